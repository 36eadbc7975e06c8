"""Counts of the calls the master answers, by API, type and result (``CallCounter``).

A server interceptor, outermost, so a call the guard refuses is counted with its refusal
(UNAUTHENTICATED, RESOURCE_EXHAUSTED...). A scheduler call's type is its ``Call.type``
(SUBSCRIBE, ACCEPT, DECLINE...), any other call's its method name; the result is the gRPC
status code it ended with (OK included; a stream is OK once it sends its first message).
Agents' sessions (``AgentRegistry.Connect``) are
streams of many messages, not calls, and the standard services are not the master's: both
are left out. Counting is one dictionary increment per call, read at scrape time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from mesospy.v1 import scheduler_pb2 as spb

__all__ = ["CallCounter"]

Context = grpc.aio.ServicerContext[Any, Any]
_APIS = {
    "mesospy.v1.Scheduler": "scheduler",
    "mesospy.v1.Operator": "operator",
    "mesospy.v1.AgentRegistry": "agent",
}
_CALL_TYPES = {number: name for name, number in spb.Call.Type.items()}
_UNCOUNTED = frozenset({"/mesospy.v1.AgentRegistry/Connect"})

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor


def _call_type(method: str, request: Any) -> str:
    if method.startswith("/mesospy.v1.Scheduler/"):
        if isinstance(request, spb.Call):
            return _CALL_TYPES.get(request.type) or str(request.type)
        return "MALFORMED"
    return method.rpartition("/")[2]


def _result(context: Context, ended: str) -> str:
    """The status code set on ``context`` (by abort or set_code), else how the handler
    ended: "OK", "CANCELLED", or "" (an exception: gRPC answers UNKNOWN)."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # the number, as the server's context may keep it
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
    return ended or "UNKNOWN"


class CallCounter(_ServerInterceptor, Collector):
    """Counts every call of the master's own services; also the collector that reports
    them (``mesospy_master_calls_total{api,type,result}``)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._wrapped: dict[str, Any] = {}

    def count(self, method: str, request: Any, result: str) -> None:
        """One call that came by another transport (the HTTP API), as its gRPC ``method``."""
        api = _APIS.get(method.split("/")[1] if method.count("/") >= 2 else "")
        if api is not None:
            self.counts[api, _call_type(method, request), result] += 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "mesospy_master_calls",
            "Calls answered, by API, call type (a scheduler Call's type, else the method) "
            "and result (the gRPC status code).",
            labels=["api", "type", "result"],
        )
        for (api, kind, result), count in sorted(dict(self.counts).items()):
            family.add_metric([api, kind, result], count)
        yield family

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(details)
            api = _APIS.get(method.split("/")[1] if method.count("/") >= 2 else "")
            if handler is None or api is None or method in _UNCOUNTED:
                return handler
            wrapped = self._wrapped[method] = self._wrap(api, method, handler)
        return wrapped

    def _wrap(self, api: str, method: str, handler: Any) -> Any:
        counts = self.counts
        if handler.unary_unary is not None:
            inner: Any = handler.unary_unary

            async def unary(request: Any, context: Context) -> Any:
                result = ""
                try:
                    response = await inner(request, context)
                    result = "OK"
                    return response
                except asyncio.CancelledError:
                    result = "CANCELLED"
                    raise
                finally:
                    counts[api, _call_type(method, request), _result(context, result)] += 1

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            inner_stream: Any = handler.unary_stream

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                # Counted once: OK with its first message (a subscription can last for
                # days), else with how it ended.
                result, counted = "", False
                try:
                    async for item in inner_stream(request, context):
                        if not counted:
                            counts[api, _call_type(method, request), "OK"] += 1
                            counted = True
                        yield item
                    result = "OK"
                except (asyncio.CancelledError, GeneratorExit):  # the caller went away
                    result = "CANCELLED"
                    raise
                finally:
                    if not counted:
                        counts[api, _call_type(method, request), _result(context, result)] += 1

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
