"""The public surface of mesospy.client is exactly what is meant to be public."""

from __future__ import annotations

import mesospy.client


def test_exported_names() -> None:
    assert sorted(mesospy.client.__all__) == [
        "AsyncOperatorClient",
        "OperatorClient",
        "OperatorError",
    ]
    for name in mesospy.client.__all__:
        assert getattr(mesospy.client, name).__doc__


def test_bad_master_spec_is_an_operator_error() -> None:
    try:
        mesospy.client.OperatorClient("host:notaport")
    except mesospy.client.OperatorError as exc:
        assert exc.code is None and "bad port" in str(exc)
    else:
        raise AssertionError("expected OperatorError")
