"""Credentials and TLS material for tests of secured clusters: the flags a master or agent
takes for them, and the client side (a ``TLSConfig`` for gRPC, an ``ssl`` context for HTTPS).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from pathlib import Path

from mesospy.security.certs import Issued
from mesospy.security.tls import TLSConfig

__all__ = [
    "ALL_CALLERS",
    "authentication_flags",
    "client_tls",
    "https_context",
    "tls_flags",
    "write_credentials",
]


def write_credentials(directory: Path, secrets: Mapping[str, str]) -> Path:
    """A ``--credentials`` file (JSON) of ``principal -> secret``."""
    path = directory / "credentials.json"
    entries = [{"principal": p, "secret": s} for p, s in secrets.items()]
    path.write_text(json.dumps({"credentials": entries}))
    return path


ALL_CALLERS = ("frameworks", "agents", "operators")


def authentication_flags(
    credentials: Path, callers: tuple[str, ...], acls: Path | None = None
) -> list[str]:
    """Master flags: ``credentials``, authenticate each kind of caller (``"frameworks"``,
    ``"agents"``, ``"operators"``), and the ACLs file if any."""
    flags = ["--credentials", str(credentials), *(f"--authenticate-{c}" for c in callers)]
    return flags + (["--acls", str(acls)] if acls is not None else [])


def tls_flags(issued: Issued, require_client_cert: bool = True) -> list[str]:
    """Flags of a master or agent serving with the cluster's certificate (mutual TLS when
    ``require_client_cert``)."""
    flags = [
        "--tls-cert",
        str(issued.server_cert),
        "--tls-key",
        str(issued.server_key),
        "--tls-ca",
        str(issued.ca_cert),
    ]
    return flags + (["--tls-require-client-cert"] if require_client_cert else [])


def client_tls(issued: Issued, principal: str | None) -> TLSConfig:
    """A gRPC client's TLS: trusts the cluster's CA, with ``principal``'s certificate."""
    cert, key = issued.clients[principal] if principal else (None, None)
    return TLSConfig(cert, key, issued.ca_cert)


def https_context(issued: Issued, principal: str | None) -> ssl.SSLContext:
    """An HTTPS client's context: trusts the cluster's CA, presents ``principal``'s
    certificate (None: none)."""
    context = ssl.create_default_context(cafile=str(issued.ca_cert))
    if principal is not None:
        cert, key = issued.clients[principal]
        context.load_cert_chain(str(cert), str(key))
    return context
