"""The HTTPS context of an HTTP door, from the master's ``TLSConfig``."""

from __future__ import annotations

import ssl

from mesospy.security.tls import TLSConfig, TLSError


def tls_context(tls: TLSConfig | None, verify_offered_certs: bool) -> ssl.SSLContext | None:
    """The server context of ``tls`` (None: plain HTTP, when it has no certificate).

    With a CA, client certificates are verified when ``require_client_cert`` (then only
    clients with one get in), or when ``verify_offered_certs`` (then a client may offer
    one, which must be valid, or none). A verified certificate names the caller
    (``Request.certificate_name``). Unusable files raise ``TLSError``.
    """
    if tls is None or tls.cert is None or tls.key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(tls.cert), str(tls.key))
        if tls.ca is not None and (tls.require_client_cert or verify_offered_certs):
            context.load_verify_locations(str(tls.ca))
            context.verify_mode = (
                ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
            )
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot use the TLS files for HTTPS: {exc}") from exc
    return context
