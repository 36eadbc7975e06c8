"""The dashboard calls frameworks as the browser's session, never as the master."""

from __future__ import annotations

from pathlib import Path

from mesospy.security.tls import TLSConfig
from mesospy.webui.framework_apis import caller_security

MASTER_TLS = TLSConfig(
    cert=Path("/etc/mesospy/master.crt"),
    key=Path("/etc/mesospy/master.key"),
    ca=Path("/etc/mesospy/ca.crt"),
    require_client_cert=True,
)


def test_a_certificate_session_does_not_borrow_the_masters_certificate() -> None:
    security = caller_security(MASTER_TLS, "viewer", "")  # logged in by its certificate
    assert security.tls is not None
    assert security.tls.ca == MASTER_TLS.ca  # the framework's certificate is still checked
    assert security.tls.cert is None and security.tls.key is None
    assert security.credential is None and security.metadata() == ()


def test_a_login_session_sends_its_own_principal_and_secret() -> None:
    security = caller_security(MASTER_TLS, "ops", "s3cret")
    assert security.credential is not None and security.credential.principal == "ops"
    assert security.tls is not None and security.tls.cert is None
    plain = caller_security(None, "ops", "s3cret")
    assert plain.tls is None and plain.credential is not None
