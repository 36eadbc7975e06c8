"""TLS and authentication for the gRPC API of a framework (batch, service, your own).

A framework's API is served like the master's: plain text by default (``mesospy local``),
TLS with a certificate, mutual TLS with ``require_client_cert``, and with a credentials
file and ``authenticate`` every call needs a principal and secret from it (or a verified
client certificate) or gets UNAUTHENTICATED before the service sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from mesospy.security.auth import OPERATORS, Authenticator
from mesospy.security.credentials import CredentialsError, load_credentials
from mesospy.security.guard import Guard, GuardInterceptor
from mesospy.security.tls import TLSConfig, TLSError

__all__ = ["ApiSecurity", "ApiSecurityError", "add_port", "api_server"]


class ApiSecurityError(ValueError):
    """The API's security settings cannot be used (the message names the flag or file)."""


@dataclass(frozen=True)
class ApiSecurity:
    """How a framework's API server is secured; all off by default."""

    tls: TLSConfig | None = None
    credentials: Path | None = None
    authenticate: bool = False

    def authenticator(self, server_name: str) -> Authenticator | None:
        """Who may call the API (None when nobody can carry an identity): the same for
        every transport the framework serves it on."""
        if not (self.credentials or self.authenticate):
            return None
        try:
            store = load_credentials(self.credentials) if self.credentials else None
            trust = self.tls is not None and self.tls.require_client_cert
            required = [OPERATORS] if self.authenticate else []
            return Authenticator.create(store, required, trust, server_name)
        except (CredentialsError, ValueError) as exc:
            raise ApiSecurityError(str(exc)) from exc

    def interceptors(self, server_name: str) -> list[Any]:
        """The guard in front of the API (none when nobody can carry an identity)."""
        authenticator = self.authenticator(server_name)
        if authenticator is None:
            return []
        # The services bound their own requests (spec sizes...), so no message limits.
        return [GuardInterceptor(Guard(authenticator, limits=None))]


def api_server(
    security: ApiSecurity, server_name: str, options: list[tuple[str, Any]]
) -> grpc.aio.Server:
    """An asyncio gRPC server guarded as ``security`` says; raises ``ApiSecurityError``."""
    return grpc.aio.server(options=options, interceptors=security.interceptors(server_name))


def add_port(server: grpc.aio.Server, address: str, security: ApiSecurity) -> int:
    """Listen on ``address`` (TLS when configured); the port bound."""
    if security.tls is None:
        return server.add_insecure_port(address)
    try:
        credentials = security.tls.server_credentials()
    except TLSError as exc:
        raise ApiSecurityError(str(exc)) from exc
    return server.add_secure_port(address, credentials)
