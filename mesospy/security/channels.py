"""Client channels: plain or TLS, with the caller's principal and secret on every call.

``ClientSecurity`` is what a client (SDK, agent, master calling agents, CLI) knows about
how to reach a secured master: TLS settings and a credential. Without either, channels
are plain and calls carry no metadata, which is what ``mesospy local`` uses.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from mesospy.security.credentials import Credential
from mesospy.security.tls import TLSConfig
from mesospy.v1 import common_pb2 as pb

__all__ = [
    "AGENT_TOKEN_KEY",
    "ClientSecurity",
    "aio_channel",
    "default_client_security",
    "framework_security",
    "set_default_client_security",
    "sync_channel",
]

Options = Sequence[tuple[str, Any]]
# The master presents an agent's call token under this key (see agent.proto).
AGENT_TOKEN_KEY = "x-mesospy-agent-token"


@dataclass(frozen=True)
class ClientSecurity:
    """TLS settings and a credential for a client; both optional."""

    tls: TLSConfig | None = None
    credential: Credential | None = None

    @classmethod
    def from_env(cls) -> ClientSecurity:
        """From $MESOSPY_TLS_CERT/KEY/CA and $MESOSPY_PRINCIPAL/SECRET."""
        return cls(TLSConfig.from_env(), Credential.from_env())

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.credential.metadata() if self.credential is not None else ()


_default: ClientSecurity | None = None


def set_default_client_security(security: ClientSecurity | None) -> None:
    """What clients created without explicit security use (the CLI sets it from flags)."""
    global _default
    _default = security


def default_client_security() -> ClientSecurity:
    """The CLI's settings if it set them, else the MESOSPY_* environment variables."""
    return _default if _default is not None else ClientSecurity.from_env()


def _with_metadata(
    metadata: Any, extra: tuple[tuple[str, str], ...]
) -> list[tuple[str, str | bytes]]:
    return [*(tuple(m) for m in (metadata or ())), *extra]


# The stubs make the interceptors generic; at run time they are plain classes.
if TYPE_CHECKING:
    _AioUnaryUnary = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _AioUnaryStream = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    _AioStreamStream = grpc.aio.StreamStreamClientInterceptor[Any, Any]
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.UnaryStreamClientInterceptor[Any, Any]
    _StreamStream = grpc.StreamStreamClientInterceptor[Any, Any]
else:
    _AioUnaryUnary = grpc.aio.UnaryUnaryClientInterceptor
    _AioUnaryStream = grpc.aio.UnaryStreamClientInterceptor
    _AioStreamStream = grpc.aio.StreamStreamClientInterceptor
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.UnaryStreamClientInterceptor
    _StreamStream = grpc.StreamStreamClientInterceptor


class _AioDetails:
    def __init__(self, extra: tuple[tuple[str, str], ...]) -> None:
        self._extra = extra

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*_with_metadata(details.metadata, self._extra)),
            details.credentials,
            details.wait_for_ready,
        )


# grpc.aio files each interceptor under one kind only, so each kind is a class of its own.
class _AioUnaryMetadata(_AioDetails, _AioUnaryUnary):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(details), request)


class _AioStreamMetadata(_AioDetails, _AioUnaryStream):
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(details), request)


class _AioBidiMetadata(_AioDetails, _AioStreamStream):
    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._details(details), requests)


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _SyncMetadata(_UnaryUnary, _UnaryStream, _StreamStream):
    def __init__(self, extra: tuple[tuple[str, str], ...]) -> None:
        self._extra = extra

    def _details(self, details: Any) -> _Details:
        return _Details(
            details.method,
            details.timeout,
            _with_metadata(details.metadata, self._extra),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)


def aio_channel(
    address: str, options: Options = (), security: ClientSecurity | None = None
) -> grpc.aio.Channel:
    """An asyncio channel to ``address``: TLS when configured, credentials when given."""
    security = security if security is not None else default_client_security()
    extra = security.metadata()
    interceptors: Any = (
        [_AioUnaryMetadata(extra), _AioStreamMetadata(extra), _AioBidiMetadata(extra)]
        if extra
        else None
    )
    if security.tls is not None:
        return grpc.aio.secure_channel(
            address,
            security.tls.channel_credentials(),
            options=list(options),
            interceptors=interceptors,
        )
    return grpc.aio.insecure_channel(address, options=list(options), interceptors=interceptors)


def sync_channel(
    address: str, options: Options = (), security: ClientSecurity | None = None
) -> grpc.Channel:
    """The blocking twin of ``aio_channel``."""
    security = security if security is not None else default_client_security()
    if security.tls is not None:
        channel = grpc.secure_channel(
            address, security.tls.channel_credentials(), options=list(options)
        )
    else:
        channel = grpc.insecure_channel(address, options=list(options))
    extra = security.metadata()
    if extra:
        channel = grpc.intercept_channel(channel, _SyncMetadata(extra))
    return channel


def framework_security(
    info: pb.FrameworkInfo, secret: str | None, tls: TLSConfig | None
) -> ClientSecurity:
    """How a framework's driver reaches the master.

    The principal is ``info.principal``, else $MESOSPY_PRINCIPAL (then written into
    ``info``); the secret is ``secret``, else $MESOSPY_SECRET; TLS is ``tls``, else the
    MESOSPY_TLS_* variables. A principal without a secret is sent as a claim only (in
    FrameworkInfo), as before authentication existed.
    """
    env = default_client_security()
    env_credential = env.credential
    if not info.principal and env_credential is not None:
        info.principal = env_credential.principal
    if secret is None and env_credential is not None:
        secret = env_credential.secret
    credential = Credential(info.principal, secret) if info.principal and secret else None
    return ClientSecurity(tls if tls is not None else env.tls, credential)
