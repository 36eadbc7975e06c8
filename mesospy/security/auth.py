"""Who is calling: authentication of frameworks, agents and operators (pure, no gRPC).

A call names its principal in two ways: a principal and secret in its metadata (checked
against the credentials file), or, when the server requires verified client certificates,
the certificate's subject common name. A call with wrong credentials is refused even where
authentication is optional; a call with none is anonymous, which the master may refuse per
kind of caller (``--authenticate-frameworks/agents/operators``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mesospy.security.credentials import PRINCIPAL_KEY, SECRET_KEY, CredentialStore

FRAMEWORKS = "frameworks"
AGENTS = "agents"
OPERATORS = "operators"
KINDS = (FRAMEWORKS, AGENTS, OPERATORS)

# Which callers each gRPC service serves.
SERVICE_KINDS = {
    "mesospy.v1.Scheduler": FRAMEWORKS,
    "mesospy.v1.AgentRegistry": AGENTS,
    "mesospy.v1.Operator": OPERATORS,
}
# The standard gRPC health service (mesospy.standard_services), on every server.
HEALTH_METHODS = frozenset(
    {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List"}
)
# Load balancers and probes must see whether a server is up without credentials.
OPEN_METHODS = frozenset({"/mesospy.v1.Operator/GetHealth", *HEALTH_METHODS})


class AuthenticationFailed(Exception):
    """The call's credentials are missing or wrong; the message says what to send."""


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a call (None: anonymous) and how it proved it."""

    principal: str | None
    kind: str
    method: str = ""
    via: str = ""  # "secret", "certificate" or "" (anonymous)

    @property
    def name(self) -> str:
        return repr(self.principal) if self.principal is not None else "anonymous"


def kind_of(method: str) -> str:
    """The kind of caller of a full gRPC method name ("/pkg.Service/Method")."""
    service = method.split("/")[1] if method.count("/") >= 2 else ""
    return SERVICE_KINDS.get(service, OPERATORS)


@dataclass(frozen=True)
class Authenticator:
    """Checks each call's credentials against the store; pure and cheap."""

    store: CredentialStore | None = None
    required: frozenset[str] = frozenset()
    # Only a certificate the TLS layer verified (client certificates required) names a
    # principal; gRPC does not verify optional ones.
    trust_certificates: bool = False
    # Who refuses an anonymous call, in its message ("this master", "the batch API").
    server: str = "this master"

    @classmethod
    def create(
        cls,
        store: CredentialStore | None,
        required: Iterable[str],
        trust_certificates: bool,
        server: str = "this master",
    ) -> Authenticator:
        required = frozenset(required)
        if required and store is None and not trust_certificates:
            raise ValueError(
                "authentication is required but nobody could pass it: give --credentials "
                "or require client certificates (--tls-require-client-cert)"
            )
        return cls(store, required, trust_certificates, server)

    @property
    def active(self) -> bool:
        """False when no call can carry an identity (plain `mesospy local`)."""
        return bool(self.required) or self.store is not None or self.trust_certificates

    def authenticate(
        self, method: str, metadata: Mapping[str, str], certificate_name: str | None
    ) -> Caller:
        kind = kind_of(method)
        principal = metadata.get(PRINCIPAL_KEY)
        if principal is not None:
            secret = metadata.get(SECRET_KEY, "")
            if self.store is None or not self.store.verify(principal, secret):
                raise AuthenticationFailed(
                    f"principal {principal!r} could not be authenticated: unknown principal "
                    "or wrong secret"
                )
            return Caller(principal, kind, method, "secret")
        if certificate_name and self.trust_certificates:
            return Caller(certificate_name, kind, method, "certificate")
        if kind in self.required and method not in OPEN_METHODS:
            raise AuthenticationFailed(
                f"{self.server} requires {kind} to authenticate: send a principal and secret "
                "(--principal/--secret or MESOSPY_PRINCIPAL/MESOSPY_SECRET) or a client "
                "certificate"
            )
        return Caller(None, kind, method)
