"""The gate in front of every service of a gRPC server.

``GuardInterceptor`` wraps each method's handler: before the service sees a request it
authenticates the caller (UNAUTHENTICATED), applies the caller's rate limit
(RESOURCE_EXHAUSTED), checks the request against the message limits (INVALID_ARGUMENT) and
asks the authorizer (PERMISSION_DENIED). Only then does the service run, with the caller
available through ``current_caller()``. A refused call changes nothing.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError, Message

from mesospy.security.acl import Denied
from mesospy.security.auth import (
    AGENTS,
    HEALTH_METHODS,
    AuthenticationFailed,
    Authenticator,
    Caller,
)
from mesospy.security.limits import LimitExceeded, MessageLimits
from mesospy.security.ratelimit import RateLimiter
from mesospy.v1 import scheduler_pb2 as spb

Context = grpc.aio.ServicerContext[Any, Any]
# Checks the caller may make this call with this request; raises Denied.
Authorize = Callable[[Caller, Message], None]

_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)

# Agents' frequent calls: their size is bounded by the server; walking every status
# update would cost the master more than it protects.
UNWALKED = frozenset(
    {"/mesospy.v1.AgentRegistry/UpdateStatus", "/mesospy.v1.AgentRegistry/Heartbeat"}
)
# Bidirectional streams whose messages each stand for a unary call: a message is checked
# as that call's request would be (its ``body`` field names the call).
STREAM_BODIES = {
    "/mesospy.v1.AgentRegistry/Connect": {
        "register": "/mesospy.v1.AgentRegistry/RegisterAgent",
        "reregister": "/mesospy.v1.AgentRegistry/ReregisterAgent",
        "heartbeat": "/mesospy.v1.AgentRegistry/Heartbeat",
        "updates": "/mesospy.v1.AgentRegistry/UpdateStatus",
        # Taking a standby session over: the re-registration it stands for.
        "resume": "/mesospy.v1.AgentRegistry/ReregisterAgent",
    }
}

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor


def current_caller() -> Caller | None:
    """The caller of the call being served (None outside a guarded call)."""
    return _CALLER.get()


def serve_as(caller: Caller | None) -> None:
    """Make ``caller`` the caller of the work the current task does next: for a second
    door to the same services (the master's Mesos HTTP API, its dashboard) admitting a call
    through the same ``Guard``, as the interceptor does for gRPC."""
    _CALLER.set(caller)


def caller_principal() -> str | None:
    caller = _CALLER.get()
    return caller.principal if caller is not None else None


def certificate_name(context: Context) -> str | None:
    """The subject common name of the client's certificate, if it presented one."""
    names = context.auth_context().get("x509_common_name")
    return next(iter(names)).decode(errors="replace") if names else None


@dataclass
class Guard:
    """What every call is checked against."""

    authenticator: Authenticator = field(default_factory=Authenticator)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # None: the services bound their requests themselves (the frameworks' APIs).
    limits: MessageLimits | None = field(default_factory=MessageLimits)
    authorize: Authorize | None = None
    clock: Callable[[], float] = time.monotonic
    _as_method: dict[tuple[Caller, str], Caller] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def admit(self, method: str, request: Message, context: Context) -> Caller | str:
        """The caller, or why the call is refused (as "CODE:message")."""
        if isinstance(request, _Malformed):
            return _malformed(method, request)
        caller = self.authenticate(method, context)
        if isinstance(caller, str):
            return caller
        return self.check(method, caller, request)

    def authenticate(self, method: str, context: Context) -> Caller | str:
        """Who calls, or why the call is refused."""
        metadata = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        }
        # The certificate counts only when trusted: don't ask gRPC for it otherwise.
        trusted = self.authenticator.trust_certificates
        try:
            return self.authenticator.authenticate(
                method, metadata, certificate_name(context) if trusted else None
            )
        except AuthenticationFailed as exc:
            return _refusal(grpc.StatusCode.UNAUTHENTICATED, str(exc))

    def as_method(self, caller: Caller, method: str) -> Caller:
        """``caller`` making ``method`` (a stream's message standing for that call); kept,
        as the same few callers open thousands of agents' sessions."""
        key = (caller, method)
        known = self._as_method.get(key)
        if known is None:
            if len(self._as_method) >= 1024:
                self._as_method.clear()
            known = self._as_method[key] = dataclasses.replace(caller, method=method)
        return known

    def check(self, method: str, caller: Caller, request: Message) -> Caller | str:
        """The rate limit, the message limits and the ACLs, for one request of ``caller``."""
        # Health probes are never refused for a rate limit: a load balancer would take the
        # refusal for an unhealthy server.
        limited = caller.kind != AGENTS and method not in HEALTH_METHODS
        if limited and not self.limiter.allow(caller.principal, self.clock()):
            limit = self.limiter.limit_of(caller.principal)
            assert limit is not None
            return _refusal(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{caller.name} is over its rate limit of {limit.rate:g} calls/s "
                f"(burst {limit.burst:g}); slow down and retry",
            )
        if self.limits is not None and method not in UNWALKED:
            try:
                self.limits.check(request)
                if isinstance(request, spb.Call) and request.type == spb.Call.ACCEPT:
                    self.limits.check_accept(
                        [
                            [*op.launch.task_infos, *op.launch_group.task_group.tasks]
                            for op in request.accept.operations
                        ]
                    )
            except LimitExceeded as exc:
                return _refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if self.authorize is not None:
            try:
                self.authorize(caller, request)
            except Denied as exc:
                return _refusal(grpc.StatusCode.PERMISSION_DENIED, str(exc))
            except LimitExceeded as exc:
                return _refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return caller


def _malformed(method: str, request: _Malformed) -> str:
    return _refusal(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request is not a valid message for {method}: {request.problem}",
    )


class _Malformed:
    """Stands in for a request whose bytes are not the message the method takes."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return _Malformed(str(exc))

    return deserialize


def _refusal(code: grpc.StatusCode, message: str) -> str:
    return f"{code.name}:{message}"


async def _refuse(context: Context, refusal: str) -> None:
    name, _, message = refusal.partition(":")
    await context.abort(grpc.StatusCode[name], message)


async def _checked(
    guard: Guard, method: str, caller: Caller, requests: AsyncIterator[Any], context: Context
) -> AsyncIterator[Any]:
    """The messages of a bidirectional stream, each checked as the unary call it stands for;
    the first refused one ends the stream."""
    bodies = STREAM_BODIES.get(method, {})
    # What an agent's heartbeats and updates would be checked for (no rate limit, no
    # walk): nothing, unless ACLs are on. Most of a session's messages.
    unchecked = UNWALKED if caller.kind == AGENTS and guard.authorize is None else frozenset()
    async for message in requests:
        if isinstance(message, _Malformed):
            await _refuse(context, _malformed(method, message))
        body = message.WhichOneof("body") if bodies else None
        inner_method = bodies.get(body or "")
        if inner_method in unchecked:
            yield message
            continue
        if inner_method is None:  # not a call's request: the service judges it
            inner_method, inner = method, message
        else:
            inner = getattr(message, body or "")
        checked = guard.check(inner_method, guard.as_method(caller, inner_method), inner)
        if isinstance(checked, str):
            await _refuse(context, checked)
        yield message


class GuardInterceptor(_ServerInterceptor):
    """Puts a ``Guard`` in front of every method: unary and server-streaming calls are
    checked once, bidirectional streams at their start and then message by message."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        # The guarded handler of each method, made once: this runs for every call, and
        # agents' heartbeats alone are thousands of calls a second in a large cluster.
        self._guarded: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = details.method
        guarded = self._guarded.get(method)
        if guarded is None:
            handler = await continuation(details)
            if handler is None:  # no such method: nothing kept (callers choose the names)
                return None
            guarded = self._guarded[method] = self._guard(method, handler)
        return guarded

    def _guard(self, method: str, handler: Any) -> Any:
        guard = self.guard
        if handler.unary_unary is not None:
            inner: Any = handler.unary_unary

            async def unary(request: Message, context: Context) -> Any:
                admitted = guard.admit(method, request, context)
                if isinstance(admitted, str):
                    await _refuse(context, admitted)
                _CALLER.set(admitted if isinstance(admitted, Caller) else None)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            inner_stream: Any = handler.unary_stream

            async def stream(request: Message, context: Context) -> AsyncIterator[Any]:
                admitted = guard.admit(method, request, context)
                if isinstance(admitted, str):
                    await _refuse(context, admitted)
                _CALLER.set(admitted if isinstance(admitted, Caller) else None)
                async for item in inner_stream(request, context):
                    yield item

            async def stream_writing(request: Message, context: Context) -> Any:
                admitted = guard.admit(method, request, context)
                if isinstance(admitted, str):
                    await _refuse(context, admitted)
                _CALLER.set(admitted if isinstance(admitted, Caller) else None)
                return await inner_stream(request, context)

            # A servicer streams by yielding or by ``context.write`` (e.g. gRPC's health).
            writes = not inspect.isasyncgenfunction(inner_stream)
            return grpc.unary_stream_rpc_method_handler(
                stream_writing if writes else stream,
                request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            inner_bidi: Any = handler.stream_stream

            async def bidi(requests: AsyncIterator[Any], context: Context) -> Any:
                caller = guard.authenticate(method, context)
                if isinstance(caller, str):
                    await _refuse(context, caller)
                    return None
                _CALLER.set(caller)
                return await inner_bidi(_checked(guard, method, caller, requests, context), context)

            async def bidi_yielding(
                requests: AsyncIterator[Any], context: Context
            ) -> AsyncIterator[Any]:
                caller = guard.authenticate(method, context)
                if isinstance(caller, str):
                    await _refuse(context, caller)
                    return
                _CALLER.set(caller)
                checked = _checked(guard, method, caller, requests, context)
                async for item in inner_bidi(checked, context):
                    yield item

            # A servicer streams by ``context.write`` or by yielding (e.g. gRPC's reflection).
            yields = inspect.isasyncgenfunction(inner_bidi)
            return grpc.stream_stream_rpc_method_handler(
                bidi_yielding if yields else bidi,
                request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler
