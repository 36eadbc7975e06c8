"""Running an HTTP call through the same gate and handlers as its gRPC twin.

Each HTTP call names the gRPC method it stands for (``/mesospy.v1.Operator/GetState``...):
the master's ``Guard`` admits it (HTTP Basic ``principal:secret`` standing for the gRPC
metadata), then the gRPC servicer's own method runs with an ``HttpContext`` in place of
gRPC's. A servicer's ``context.abort(code, message)`` becomes an HTTP status with the same
message; a master that does not lead answers 307 to the leader when it knows its HTTP API.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn, TypeVar, cast

import grpc

from mesospy.http import Request, Response
from mesospy.master.master import Master
from mesospy.security.auth import Caller
from mesospy.security.credentials import PRINCIPAL_KEY, SECRET_KEY
from mesospy.security.guard import Guard, serve_as

T = TypeVar("T")
# The gRPC servicers' context type, which ``HttpContext`` stands in for.
Context = grpc.aio.ServicerContext[Any, Any]
STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class CallFailed(Exception):
    """A call answered with an error status (from a servicer's abort, or refused)."""

    def __init__(self, code: grpc.StatusCode, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # an HTTP status of its own (415, 406), else the code's


class HttpContext:
    """What the gRPC servicers use of their context, for a call that came over HTTP."""

    def __init__(self, metadata: Mapping[str, str], certificate_name: str | None = None) -> None:
        self._metadata = tuple(metadata.items())
        self._certificate_name = certificate_name

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise CallFailed(code, details)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        """As gRPC's: the client certificate's common name, when TLS verified one."""
        name = self._certificate_name
        return {"x509_common_name": [name.encode()]} if name else {}

    def peer(self) -> str:
        return "http"


def unsupported(kind: str, supported: str) -> CallFailed:
    """415: a body in a format this API does not read."""
    return CallFailed(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Content-Type {kind!r} is not supported here; send {supported}",
        415,
    )


def credentials(request: Request) -> dict[str, str]:
    """HTTP Basic credentials as the metadata a gRPC call would carry; raises
    ``CallFailed`` (401) when the header is there but unreadable."""
    header = request.header("authorization")
    if not header:
        return {}
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        raise CallFailed(
            grpc.StatusCode.UNAUTHENTICATED,
            f"the Authorization scheme {scheme!r} is not supported; use Basic principal:secret",
        )
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise CallFailed(
            grpc.StatusCode.UNAUTHENTICATED,
            "the Basic credentials are not base64 of principal:secret",
        ) from None
    principal, sep, secret = decoded.partition(":")
    if not sep or not principal:
        raise CallFailed(
            grpc.StatusCode.UNAUTHENTICATED, "the Basic credentials must be principal:secret"
        )
    return {PRINCIPAL_KEY: principal, SECRET_KEY: secret}


class Gate:
    """The master's guard and leadership, seen from the HTTP API."""

    def __init__(self, master: Master, guard: Guard) -> None:
        self.m = master
        self.guard = guard

    def admit(self, request: Request, method: str, message: Any) -> Context:
        """Authenticate and check ``message`` as the gRPC ``method``; the context to call
        the servicer with (the caller is set for the handlers, as the interceptor does)."""
        context = HttpContext(credentials(request), request.certificate_name)
        admitted = self.guard.admit(method, message, context)  # type: ignore[arg-type]
        if isinstance(admitted, str):
            name, _, why = admitted.partition(":")
            raise CallFailed(grpc.StatusCode[name], why)
        serve_as(admitted if isinstance(admitted, Caller) else None)
        return cast(Context, context)  # what the servicers use of a gRPC context

    async def call(
        self,
        request: Request,
        method: str,
        message: Any,
        handler: Callable[[Any, Context], Awaitable[T]],
    ) -> T:
        """Admit ``message`` and run the servicer's ``handler`` on it, counted in the call
        metrics as its gRPC twin is."""
        try:
            answer = await handler(message, self.admit(request, method, message))
        except CallFailed as exc:
            self.m.metrics.calls.count(method, message, exc.code.name)
            raise
        self.m.metrics.calls.count(method, message, "OK")
        return answer

    async def open_stream(
        self,
        request: Request,
        method: str,
        message: Any,
        handler: Callable[[Any, Context], AsyncIterator[T]],
    ) -> tuple[T, AsyncIterator[T]]:
        """Admit a streaming call and take its first item (refusals come before it): the
        item and the rest of the stream."""

        async def first(message: Any, context: Context) -> tuple[T, AsyncIterator[T]]:
            items = handler(message, context)
            return await anext(items), items

        return await self.call(request, method, message, first)

    def leader_url(self, path: str) -> str | None:
        """The leader's HTTP address for ``path`` (None: unknown, or no HTTP API there)."""
        info = self.m.leader_info
        if info is None or not info.http_port or info.id == self.m.id:
            return None
        host = info.address.ip or info.ip
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{info.http_port}{path}"

    @property
    def scheme(self) -> str:
        """Masters of a cluster share their TLS flags: HTTPS on all of them, or on none."""
        tls = self.m.config.tls
        return "https" if tls is not None and tls.cert is not None else "http"

    def failure(self, exc: CallFailed, request: Request) -> Response:
        """The HTTP answer to a failed call."""
        if exc.code == grpc.StatusCode.UNAVAILABLE and not self.m.leading:
            location = self.leader_url(request.target)
            if location is not None:
                return Response.text(
                    307, f"this master is not the leader; try {location}", [("Location", location)]
                )
        status = exc.status or STATUS.get(exc.code, 500)
        headers = [("WWW-Authenticate", 'Basic realm="mesospy"')] if status == 401 else []
        return Response.text(status, exc.message or exc.code.name, headers)
