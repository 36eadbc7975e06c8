"""The ExecutorDriver: connects an Executor to the agent that started it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import grpc

from mesospy.scheduler.backoff import Backoff
from mesospy.task_states import is_terminal
from mesospy.v1 import common_pb2, executor_pb2, executor_pb2_grpc

__all__ = ["MAX_MESSAGE_BYTES", "ExecutorDriver", "ExecutorEnvironmentError", "new_status"]

log = logging.getLogger("mesospy.executor")

Call = executor_pb2.Call
Event = executor_pb2.Event
TOKEN_KEY = "x-mesospy-executor-token"
# The most data one framework message may carry (the agent and master refuse more).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Queued messages go in one MESSAGE call up to these limits.
_BATCH_MESSAGES = 2000
_BATCH_BYTES = 8 * 1024 * 1024
DEFAULT_RECOVERY_TIMEOUT = 900.0  # Mesos's --recovery_timeout
_REFUSALS = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED}
_CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


class ExecutorEnvironmentError(RuntimeError):
    """The process was not started by an agent as an executor (variables missing)."""


def new_status(
    task_id: str,
    state: int,
    message: str = "",
    *,
    reason: int = common_pb2.TaskStatus.REASON_UNSPECIFIED,
    healthy: bool | None = None,
) -> common_pb2.TaskStatus:
    """A TaskStatus with a fresh uuid, ready for ``send_status_update``."""
    status = common_pb2.TaskStatus(
        task_id=task_id,
        state=state,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
        message=message,
        timestamp=time.time(),
        uuid=uuid.uuid4().bytes,
    )
    if healthy is not None:
        status.healthy = healthy
    return status


@dataclass
class _Outgoing:
    call: executor_pb2.Call
    waiter: asyncio.Future[None] | None = field(default=None, compare=False)


class ExecutorDriver:
    """Runs an ``Executor``: subscribes to its agent, delivers events, sends its calls.

    Where the agent is and who the executor is come from the environment the agent set
    (MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOSPY_EXECUTOR_TOKEN;
    ``environ`` overrides it). Call ``run()`` (blocking, its own event loop) or
    ``await run_async()``. ``send_status_update`` and ``send_framework_message`` may be
    called from callbacks or other threads; they are queued and sent in order, messages
    queued together going in one call. Updates are delivered to the scheduler at least
    once and acknowledged back (``Executor.acknowledged``).

    If the connection to the agent is lost the driver subscribes again (with backoff)
    for up to ``recovery_timeout`` seconds, then gives up; an agent that no longer knows
    the executor ends it at once. ``run`` returns 0 after SHUTDOWN or ``stop()``, 1 when
    the driver gave up.
    """

    def __init__(
        self,
        executor: object,
        *,
        environ: Mapping[str, str] | None = None,
        recovery_timeout: float | None = None,
        call_timeout: float = 10.0,
    ) -> None:
        env = os.environ if environ is None else environ
        missing = [
            name
            for name in (
                "MESOS_AGENT_ENDPOINT",
                "MESOS_FRAMEWORK_ID",
                "MESOS_EXECUTOR_ID",
                "MESOSPY_EXECUTOR_TOKEN",
            )
            if not env.get(name)
        ]
        if missing:
            raise ExecutorEnvironmentError(
                f"{', '.join(missing)} not set: an executor is started by an agent, for a "
                "task whose TaskInfo names it (TaskInfo.executor)"
            )
        self.executor = executor
        self.endpoint = env["MESOS_AGENT_ENDPOINT"]
        self.framework_id = env["MESOS_FRAMEWORK_ID"]
        self.executor_id = env["MESOS_EXECUTOR_ID"]
        self.sandbox = env.get("MESOS_SANDBOX", os.getcwd())
        self._metadata = ((TOKEN_KEY, env["MESOSPY_EXECUTOR_TOKEN"]),)
        if recovery_timeout is None:
            text = env.get("MESOS_RECOVERY_TIMEOUT", "").rstrip("s")
            recovery_timeout = float(text) if text else DEFAULT_RECOVERY_TIMEOUT
        self._recovery_timeout = recovery_timeout
        self._call_timeout = call_timeout
        self.agent_id = ""
        self._tasks: dict[str, common_pb2.TaskInfo] = {}
        self._unacked: dict[bytes, common_pb2.TaskStatus] = {}
        self._pending: list[_Outgoing] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._callback_lock = asyncio.Lock()
        self._result = 0
        self._subscribed_once = False  # SUBSCRIBED came at least once
        self._got_events = False  # since the last reconnection
        self._errors: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ life cycle

    def run(self) -> int:
        """Run until SHUTDOWN or ``stop()`` on a new event loop; see ``run_async``."""
        return asyncio.run(self.run_async())

    async def run_async(self) -> int:
        """Run on the current event loop; 0 after SHUTDOWN or ``stop()``, 1 when the agent
        could not be reached within the recovery timeout or refused the executor."""
        if self._loop is not None:
            raise RuntimeError("this ExecutorDriver is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        async with grpc.aio.insecure_channel(self.endpoint, options=_CHANNEL_OPTIONS) as channel:
            stub = executor_pb2_grpc.ExecutorStub(channel)  # type: ignore[no-untyped-call]
            sender = asyncio.create_task(self._send_calls(stub))
            try:
                await self._subscribe_until_stopped(stub)
                # What is queued (the last updates, typically) goes out before the end.
                if self._subscribed.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.flush(), self._call_timeout)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        return self._result

    def stop(self) -> None:
        """Stop the driver (queued calls are sent first); ``run()`` then returns 0."""
        self._in_loop(self._stopping.set)

    # ------------------------------------------------------------------ calls (queued)

    def send_status_update(
        self,
        status: common_pb2.TaskStatus | str,
        state: int | None = None,
        message: str = "",
        *,
        reason: int = common_pb2.TaskStatus.REASON_UNSPECIFIED,
    ) -> bytes:
        """Report a task's state: a TaskStatus (``new_status``), or ``task_id, state``.
        Returns the update's uuid (``Executor.acknowledged`` names it later)."""
        if isinstance(status, str):
            if state is None:
                raise ValueError("send_status_update(task_id, state): the state is missing")
            status = new_status(status, state, message, reason=reason)
        elif not status.uuid:
            copy = common_pb2.TaskStatus()
            copy.CopyFrom(status)
            copy.uuid = uuid.uuid4().bytes
            status = copy
        call = Call(type=Call.UPDATE)
        call.update.status.CopyFrom(status)
        self._enqueue(_Outgoing(call))
        return status.uuid

    def send_framework_message(self, data: bytes) -> None:
        """Send ``data`` (at most 4 MiB) to the framework's scheduler (best effort)."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"a framework message of {len(data)} bytes is over the {MAX_MESSAGE_BYTES} "
                "byte (4 MiB) limit"
            )
        call = Call(type=Call.MESSAGE)
        call.messages.add(data=data)
        self._enqueue(_Outgoing(call))

    async def flush(self) -> None:
        """Wait until every call queued so far has been sent (or refused)."""
        await asyncio.sleep(0)
        await self._idle.wait()

    def _enqueue(self, item: _Outgoing) -> None:
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._enqueue, item)
            return
        if item.call.type == Call.UPDATE:
            self._unacked[item.call.update.status.uuid] = item.call.update.status
        self._pending.append(item)
        self._idle.clear()
        self._wakeup.set()

    def _in_loop(self, action: Callable[[], None]) -> None:
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(action)
        else:
            action()

    # ------------------------------------------------------------------ events in

    async def _subscribe_until_stopped(self, stub: executor_pb2_grpc.ExecutorStub) -> None:
        backoff = Backoff(initial=0.1, cap=2.0)
        lost_since: float | None = None
        while not self._stopping.is_set():
            try:
                await self._session(stub)
                if self._stopping.is_set():
                    return
                why = "the agent closed the event stream"
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _REFUSALS:
                    await self._invoke("error", exc.details() or exc.code().name)
                    self._result = 1
                    return
                why = f"{exc.code().name}: {exc.details()}"
            self._subscribed.clear()
            now = time.monotonic()
            lost_since = lost_since if lost_since is not None else now
            if now - lost_since > self._recovery_timeout:
                await self._invoke(
                    "error", f"no agent for over {self._recovery_timeout:g} s: {why}"
                )
                self._result = 1
                return
            log.info("connection to the agent lost (%s); subscribing again", why)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff.next())
            if self._got_events:
                lost_since, self._got_events = None, False
                backoff.reset()

    def _subscribe_call(self) -> executor_pb2.Call:
        call = Call(
            type=Call.SUBSCRIBE, framework_id=self.framework_id, executor_id=self.executor_id
        )
        call.subscribe.unacknowledged_tasks.extend(self._tasks.values())
        for status in self._unacked.values():
            call.subscribe.unacknowledged_updates.add().status.CopyFrom(status)
        return call

    async def _session(self, stub: executor_pb2_grpc.ExecutorStub) -> None:
        stream = stub.Subscribe(self._subscribe_call(), metadata=self._metadata)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                read = asyncio.ensure_future(stream.read())
                await asyncio.wait({read, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()
                    return
                batch = read.result()
                if batch is grpc.aio.EOF:  # type: ignore[attr-defined]
                    return
                self._got_events = True
                for event in batch.events:
                    await self._dispatch(event)
                    if self._stopping.is_set():
                        return
        finally:
            stopper.cancel()
            stream.cancel()

    async def _dispatch(self, event: executor_pb2.Event) -> None:
        kind = event.type
        if kind == Event.MESSAGE:
            await self._invoke("framework_message", event.message.data)
        elif kind == Event.SUBSCRIBED:
            subscribed = event.subscribed
            self.agent_id = subscribed.agent_id
            self._subscribed_once = True
            self._subscribed.set()
            await self._invoke(
                "registered",
                subscribed.executor_info,
                subscribed.framework_info,
                subscribed.agent_id,
            )
        elif kind == Event.LAUNCH:
            self._tasks[event.launch.task.task_id] = event.launch.task
            await self._invoke("launch_task", event.launch.task)
        elif kind == Event.LAUNCH_GROUP:
            tasks = list(event.launch_group.tasks)
            self._tasks.update((t.task_id, t) for t in tasks)
            await self._invoke("launch_group", tasks)
        elif kind == Event.KILL:
            await self._invoke("kill_task", event.kill.task_id)
        elif kind == Event.ACKNOWLEDGED:
            acked = self._unacked.pop(event.acknowledged.uuid, None)
            if acked is not None and is_terminal(acked.state):
                self._tasks.pop(acked.task_id, None)
            await self._invoke("acknowledged", event.acknowledged.task_id, event.acknowledged.uuid)
        elif kind == Event.SHUTDOWN:
            await self._invoke("shutdown")
            self._stopping.set()
        elif kind == Event.ERROR:
            await self._invoke("error", event.error.message)
        else:
            log.debug("ignoring an event of unknown type %d", kind)

    async def _invoke(self, name: str, *args: object) -> None:
        callback: Callable[..., Awaitable[None] | None] = getattr(self.executor, name)
        async with self._callback_lock:
            try:
                result = callback(self, *args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("executor callback %s raised", name)

    # ------------------------------------------------------------------ calls out

    async def _send_calls(self, stub: executor_pb2_grpc.ExecutorStub) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._subscribed.wait()
            item = self._next_call()
            item.call.framework_id = self.framework_id
            item.call.executor_id = self.executor_id
            try:
                await stub.Send(item.call, timeout=self._call_timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    if item.call.type == Call.UPDATE:
                        self._pending.insert(0, item)  # again once subscribed again
                    self._subscribed.clear()
                    continue
                message = f"the agent refused {Call.Type.Name(item.call.type)}: {exc.details()}"
                log.warning("%s", message)
                self._spawn_error(message)

    def _next_call(self) -> _Outgoing:
        """The next call to send: queued messages (up to the batch limits) go together."""
        first = self._pending.pop(0)
        if first.call.type != Call.MESSAGE:
            return first
        size = sum(len(m.data) for m in first.call.messages)
        take = 0
        for item in self._pending:
            if item.call.type != Call.MESSAGE:
                break
            more = sum(len(m.data) for m in item.call.messages)
            if len(first.call.messages) + take >= _BATCH_MESSAGES or size + more > _BATCH_BYTES:
                break
            size += more
            take += 1
        if take:
            merged = Call(type=Call.MESSAGE)
            merged.messages.extend(first.call.messages)
            for item in self._pending[:take]:
                merged.messages.extend(item.call.messages)
            del self._pending[:take]
            first = _Outgoing(merged)
        return first

    def _spawn_error(self, message: str) -> None:
        task = asyncio.get_running_loop().create_task(self._invoke("error", message))
        self._errors.add(task)
        task.add_done_callback(self._errors.discard)
