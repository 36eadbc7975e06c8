"""An app spec's ``fetch:`` list: read, canonical form, and config keys of apps without it."""

from __future__ import annotations

import pytest

from frameworks.service.spec import SpecError, load_spec_text, parse_spec
from mesospy.scheduler import Artifact


def test_fetch_is_read_and_changes_the_config_key() -> None:
    plain = parse_spec({"id": "web", "cmd": "./serve"})
    fetched = load_spec_text(
        "id: web\ncmd: ./serve\nfetch: [http://h/site.zip, {uri: /opt/serve, executable: true}]"
    )
    assert fetched.fetch == (Artifact("http://h/site.zip"), Artifact("/opt/serve", True))
    assert parse_spec(fetched.to_dict()) == fetched
    assert "fetch" not in plain.to_dict()  # unchanged for apps stored before fetch existed
    assert plain.config_key() != fetched.config_key()  # a new artifact replaces instances


def test_bad_fetch_is_refused_with_paths() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"id": "web", "cmd": "x", "fetch": [{"uri": "/x", "extract": "no"}]})
    assert caught.value.problems == ["fetch[0].extract: must be true or false"]
