"""The executor API as the agent serves it (``executor.proto``), on a loopback port.

Each call names its framework and executor and carries the executor's token (given to
it in MESOSPY_EXECUTOR_TOKEN when the agent started it), so no other local process can
speak for an executor. Bad calls are answered with a status and a message to act on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc

from mesospy.agent.executors import MAX_MESSAGE_BYTES, ExecutorRegistry, RunningExecutor
from mesospy.v1 import executor_pb2 as epb
from mesospy.v1 import executor_pb2_grpc as epb_grpc

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
TOKEN_KEY = "x-mesospy-executor-token"
Call = epb.Call
Event = epb.Event
# Events go to an executor in batches of at most this many.
MAX_EVENT_BATCH = 2000


class ExecutorService(epb_grpc.ExecutorServicer):
    """Subscribe (the executor's event stream) and Send (its updates and messages)."""

    def __init__(self, registry: ExecutorRegistry) -> None:
        self._registry = registry

    async def _executor(self, call: epb.Call, context: Context) -> RunningExecutor:
        executor = self._registry.executors.get((call.framework_id, call.executor_id))
        token = dict(context.invocation_metadata() or ()).get(TOKEN_KEY, "")
        if executor is None or executor.exited:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"executor {call.executor_id!r} of framework {call.framework_id!r} "
                "is not running on this agent",
            )
        assert executor is not None
        if not isinstance(token, str) or not secrets.compare_digest(token, executor.token):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"wrong or missing {TOKEN_KEY} for executor {call.executor_id!r} "
                "(the agent gives it in MESOSPY_EXECUTOR_TOKEN)",
            )
        return executor

    async def Subscribe(self, request: epb.Call, context: Context) -> AsyncIterator[epb.Events]:
        if request.type != Call.SUBSCRIBE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Subscribe takes a SUBSCRIBE call, not {Call.Type.Name(request.type)}",
            )
        executor = await self._executor(request, context)
        executor.stream += 1
        executor.wake.set()  # an older stream of it ends
        mine = executor.stream
        executor.subscribed = True
        if executor.recovered:
            self._registry.resubscribed(executor, request.subscribe)
        subscribed = Event(type=Event.SUBSCRIBED)
        subscribed.subscribed.executor_info.CopyFrom(executor.info)
        subscribed.subscribed.framework_info.CopyFrom(executor.framework)
        subscribed.subscribed.agent_id = self._registry.agent_id()
        subscribed.subscribed.agent_hostname = self._registry.host
        executor.queue.insert(0, subscribed)
        log.info("executor %r subscribed", executor.info.executor_id)
        while executor.stream == mine:
            if executor.queue:
                batch = executor.queue[:MAX_EVENT_BATCH]
                del executor.queue[:MAX_EVENT_BATCH]
                yield epb.Events(events=batch)
                continue
            if executor.exited:
                return
            executor.wake.clear()
            await executor.wake.wait()

    async def Send(self, request: epb.Call, context: Context) -> epb.Response:
        executor = await self._executor(request, context)
        if request.type == Call.UPDATE:
            if problem := self._registry.report(executor, request.update.status):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        elif request.type == Call.MESSAGE:
            if not request.messages:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "MESSAGE carries no messages")
            for message in request.messages:
                if len(message.data) > MAX_MESSAGE_BYTES:
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"a message of {len(message.data)} bytes is over the limit of "
                        f"{MAX_MESSAGE_BYTES} bytes; nothing was sent",
                    )
            self._registry.to_framework(executor, [m.data for m in request.messages])
        else:
            name = Call.Type.Name(request.type) if request.type in Call.Type.values() else "?"
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"call type {name} cannot be sent with Send (UPDATE or MESSAGE; "
                "SUBSCRIBE goes to Subscribe)",
            )
        return epb.Response()


async def serve_executor_api(
    registry: ExecutorRegistry, ip: str = "127.0.0.1", port: int = 0
) -> grpc.aio.Server:
    """Serve the executor API on ``ip``: on ``port`` (where executors from before a
    restart reconnect) when it is free, else on any free port; sets
    ``registry.endpoint``."""
    limit = MAX_MESSAGE_BYTES + (1 << 20)
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", limit * 4),
            ("grpc.max_send_message_length", limit * 4),
        ]
    )
    epb_grpc.add_ExecutorServicer_to_server(ExecutorService(registry), server)  # type: ignore[no-untyped-call]
    bound = 0
    if port:
        try:
            bound = server.add_insecure_port(f"{ip}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:
            log.warning("executor API port %d is taken: running executors cannot return", port)
    port = bound or server.add_insecure_port(f"{ip}:0")
    await server.start()
    registry.endpoint = f"{ip}:{port}"
    return server
