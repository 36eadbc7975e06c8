"""The SchedulerDriver: connects a Scheduler to the leading master and keeps it connected."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

import grpc

from mesospy.detector import MasterDetector, resolve_master_spec
from mesospy.scheduler import calls
from mesospy.scheduler.backoff import Backoff
from mesospy.scheduler.channel import open_channel
from mesospy.scheduler.errors import (
    CallRejected,
    DriverStopped,
    FrameworkRemoved,
    MasterUnavailable,
    MesospyError,
    from_rpc_error,
)
from mesospy.scheduler.resends import DeliveredUpdates
from mesospy.scheduler.scheduler import Scheduler
from mesospy.security.channels import framework_security
from mesospy.security.tls import TLSConfig
from mesospy.v1 import common_pb2, scheduler_pb2, scheduler_pb2_grpc

__all__ = ["SchedulerDriver"]

log = logging.getLogger("mesospy.scheduler")

Call = scheduler_pb2.Call
Event = scheduler_pb2.Event
StopMode = Literal["teardown", "failover", "abort"]

DEFAULT_HEARTBEAT_SECONDS = 15.0
# Calls about offers are not resent after a connection loss: the offers died with it.
_NOT_RESENT = {Call.ACCEPT, Call.DECLINE}
# Queued by stop(): the sender returns when it reaches this (compared by identity).
_END_OF_QUEUE = calls.Outgoing(Call())


def _ids(ids: str | Iterable[str]) -> list[str]:
    # A lone id is a str, which is itself iterable: do not split it into characters.
    return [ids] if isinstance(ids, str) else list(ids)


class SchedulerDriver:
    """Runs a ``Scheduler``: subscribes, delivers events to it, and sends its calls.

    ``master`` is ``"host:port"`` (default: ``$MESOSPY_MASTER``, then 127.0.0.1:5050).
    Call ``run()`` (blocking, its own event loop) or ``await run_async()``. Calls such as
    ``launch`` or ``decline`` may be made from callbacks or other threads; they are queued
    and sent in order. ``await driver.call(...)`` sends one call and raises the master's
    refusal as a ``MesospyError``.

    On a lost connection (stream closed, master silent for ``missed_heartbeats``
    heartbeats, master unreachable) the driver calls ``scheduler.disconnected``, reconnects
    with jittered exponential backoff and re-subscribes with its framework id, so its tasks
    are kept. A driver runs once.

    On a secured cluster, ``framework_info.principal`` with ``secret`` authenticates the
    framework, and ``tls`` (a ``mesospy.security.tls.TLSConfig``) sets the CA and client
    certificate; they default to $MESOSPY_PRINCIPAL, $MESOSPY_SECRET and $MESOSPY_TLS_*.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        framework_info: common_pb2.FrameworkInfo,
        master: str | None = None,
        *,
        implicit_acknowledgements: bool = True,
        suppressed_roles: Iterable[str] = (),
        detector: MasterDetector | None = None,
        backoff: Backoff | None = None,
        call_timeout: float = 10.0,
        subscribe_timeout: float = 15.0,
        missed_heartbeats: int = 3,
        secret: str | None = None,
        tls: TLSConfig | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.implicit_acknowledgements = implicit_acknowledgements
        self._info = common_pb2.FrameworkInfo()
        self._info.CopyFrom(framework_info)
        self._security = framework_security(self._info, secret, tls)
        self._suppressed_roles = list(suppressed_roles)
        self._detector = detector or MasterDetector(resolve_master_spec(master))
        self._backoff = backoff or Backoff()
        self._call_timeout = call_timeout
        self._subscribe_timeout = subscribe_timeout
        self._missed_heartbeats = missed_heartbeats
        self._heartbeat = DEFAULT_HEARTBEAT_SECONDS
        self._stream_id = ""
        self._connected = False
        self._stop_mode: StopMode | None = None
        self._pending: list[calls.Outgoing] = []
        self._offer_agents: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._callback_lock = asyncio.Lock()
        self._delivered = DeliveredUpdates()

    # ------------------------------------------------------------------ state

    @property
    def framework_id(self) -> str:
        """The id the master gave the framework ("" until the first SUBSCRIBED)."""
        return self._info.id

    @property
    def principal(self) -> str:
        """The principal the framework subscribes as ("" without one): what its
        reservations and volumes must name."""
        return self._info.principal

    @property
    def connected(self) -> bool:
        """Whether the driver is subscribed to a master right now."""
        return self._connected

    # ------------------------------------------------------------------ life cycle

    def run(self) -> int:
        """Run until ``stop()``/``abort()`` on a new event loop; see ``run_async``."""
        return asyncio.run(self.run_async())

    async def run_async(self) -> int:
        """Run on the current event loop until stopped.

        Returns 0 after ``stop()`` and 1 after ``abort()``. Raises ``FrameworkRemoved`` if
        the master removes the framework, or a ``CallRejected`` if it refuses the
        subscription itself (e.g. an invalid FrameworkInfo).
        """
        if self._loop is not None:
            raise RuntimeError("this SchedulerDriver is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            await self._connect_until_stopped()
        finally:
            self._fail_waiters(DriverStopped("the scheduler driver stopped"))
            self._loop = None
        return 1 if self._stop_mode == "abort" else 0

    def stop(self, failover: bool = False) -> None:
        """Stop the driver; ``run()`` then returns 0.

        With ``failover=False`` the framework is torn down (TEARDOWN: its tasks are killed).
        With ``failover=True`` the driver only disconnects: a new driver given the same
        ``framework_info.id`` can re-subscribe within the failover timeout and keep the tasks.
        Queued calls are sent first.
        """
        self._request_stop("failover" if failover else "teardown")

    def abort(self) -> None:
        """Stop at once without sending queued calls or tearing down; ``run()`` returns 1."""
        self._request_stop("abort")

    def _request_stop(self, mode: StopMode) -> None:
        if self._stop_mode is None or mode == "abort":
            self._stop_mode = mode
        self._in_loop(self._stopping.set)

    # ------------------------------------------------------------------ calls (queued)

    def launch(
        self,
        offer_ids: str | Iterable[str],
        tasks: Iterable[common_pb2.TaskInfo],
        filters: common_pb2.Filters | None = None,
    ) -> None:
        """Launch tasks on offers (all from one agent); fills in tasks' empty ``agent_id``."""
        offer_ids = _ids(offer_ids)
        agent_id = next((self._offer_agents[o] for o in offer_ids if o in self._offer_agents), "")
        infos = []
        for task in tasks:
            info = common_pb2.TaskInfo()
            info.CopyFrom(task)
            info.agent_id = info.agent_id or agent_id
            infos.append(info)
        self._forget_offers(offer_ids)
        self._enqueue(calls.launch(offer_ids, infos, filters))

    def launch_group(
        self,
        offer_ids: str | Iterable[str],
        executor: common_pb2.ExecutorInfo,
        tasks: Iterable[common_pb2.TaskInfo],
        filters: common_pb2.Filters | None = None,
    ) -> None:
        """Launch a task group (a pod) on offers of one agent: all its tasks or none;
        fills in tasks' empty ``agent_id``. See ``calls.launch_group``."""
        offer_ids = _ids(offer_ids)
        agent_id = next((self._offer_agents[o] for o in offer_ids if o in self._offer_agents), "")
        infos = []
        for task in tasks:
            info = common_pb2.TaskInfo()
            info.CopyFrom(task)
            info.agent_id = info.agent_id or agent_id
            infos.append(info)
        self._forget_offers(offer_ids)
        self._enqueue(calls.launch_group(offer_ids, executor, infos, filters))

    def accept(
        self,
        offer_ids: str | Iterable[str],
        operations: Iterable[Call.Operation],
        filters: common_pb2.Filters | None = None,
    ) -> None:
        """Accept offers with operations; ``filters`` apply to what is left unused."""
        offer_ids = _ids(offer_ids)
        self._forget_offers(offer_ids)
        self._enqueue(calls.accept(offer_ids, operations, filters))

    def decline(self, offer_ids: str | Iterable[str], refuse_seconds: float | None = None) -> None:
        """Decline offers; they are not offered again for ``refuse_seconds`` (default 5)."""
        offer_ids = _ids(offer_ids)
        self._forget_offers(offer_ids)
        self._enqueue(calls.decline(offer_ids, refuse_seconds))

    def revive(self, roles: Iterable[str] = ()) -> None:
        """Ask for offers again (clears decline filters and suppression)."""
        self._enqueue(calls.revive(roles))

    def suppress(self, roles: Iterable[str] = ()) -> None:
        """Stop receiving offers until ``revive()``."""
        self._enqueue(calls.suppress(roles))

    def kill(self, task_id: str, agent_id: str = "", grace_period: float | None = None) -> None:
        """Kill a task; ``grace_period`` seconds between SIGTERM and SIGKILL."""
        self._enqueue(calls.kill(task_id, agent_id, grace_period))

    def acknowledge(self, status: common_pb2.TaskStatus) -> None:
        """Acknowledge a status update (needed only with ``implicit_acknowledgements=False``)."""
        if status.uuid:
            self._delivered.acknowledged((status.task_id, status.uuid))
            self._enqueue(calls.acknowledge([status]))

    def reconcile(self, tasks: Iterable[tuple[str, str] | common_pb2.TaskStatus] = ()) -> None:
        """Ask for the latest status of tasks (``(task_id, agent_id)`` or a TaskStatus).

        With no tasks, the master answers with the status of every task it knows.
        """
        pairs = [t if isinstance(t, tuple) else (t.task_id, t.agent_id) for t in tasks]
        self._enqueue(calls.reconcile(pairs))

    def send_framework_message(self, executor_id: str, agent_id: str, data: bytes) -> None:
        """Send ``data`` (at most 4 MiB) to one of the framework's executors (best effort:
        lost if the executor or its agent goes away meanwhile). Messages queued together
        go in one call."""
        if len(data) > calls.MAX_MESSAGE_BYTES:
            raise ValueError(
                f"a framework message of {len(data)} bytes is over the "
                f"{calls.MAX_MESSAGE_BYTES} byte (4 MiB) limit"
            )
        self._enqueue(calls.message(executor_id, agent_id, data))

    def shutdown_executor(self, executor_id: str, agent_id: str = "") -> None:
        """Stop an executor; its unfinished tasks end with it."""
        self._enqueue(calls.shutdown(executor_id, agent_id))

    def update_framework(
        self, framework_info: common_pb2.FrameworkInfo, suppressed_roles: Iterable[str] = ()
    ) -> None:
        """Change the framework's roles, capabilities, failover_timeout (and labels, web
        UI url, hostname, endpoint) without subscribing again; later subscriptions (after
        a reconnection) use the new FrameworkInfo. The id is filled in."""
        info = common_pb2.FrameworkInfo()
        info.CopyFrom(framework_info)
        info.id = info.id or self._info.id
        self._enqueue(calls.update_framework(info, suppressed_roles))

        def adopt() -> None:
            fid = self._info.id
            self._info.CopyFrom(info)
            self._info.id = self._info.id or fid

        self._in_loop(adopt)

    def request_resources(
        self, requests: Iterable[tuple[str, Iterable[common_pb2.Resource]]] = ()
    ) -> None:
        """REQUEST resources: accepted and ignored by the master, as in Mesos."""
        self._enqueue(calls.request(requests))

    def teardown(self) -> None:
        """Remove the framework and kill its tasks; the same as ``stop(failover=False)``."""
        self.stop(failover=False)

    async def call(self, call: Call) -> None:
        """Send ``call`` in order with the queued calls, and wait for the master's answer.

        Must be awaited on the driver's event loop. Waits while the driver is reconnecting.
        Raises ``InvalidCall``, ``NotFound``, ``PreconditionFailed`` (the master refused it),
        ``MasterUnavailable`` (the connection failed while it was in flight) or
        ``DriverStopped``.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        copy = Call()
        copy.CopyFrom(call)
        self._enqueue(calls.Outgoing(copy, waiter))
        await waiter

    def _enqueue(self, item: Call | calls.Outgoing) -> None:
        outgoing = item if isinstance(item, calls.Outgoing) else calls.Outgoing(item)
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._enqueue, outgoing)
            return
        self._pending.append(outgoing)
        self._wakeup.set()

    def _in_loop(self, action: Callable[[], None]) -> None:
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(action)
        else:
            action()

    def _forget_offers(self, offer_ids: Iterable[str]) -> None:
        for offer_id in offer_ids:
            self._offer_agents.pop(offer_id, None)

    def _fail_waiters(self, error: MesospyError) -> None:
        for item in self._pending:
            if item.waiter is not None and not item.waiter.done():
                item.waiter.set_exception(error)
        self._pending.clear()

    # ------------------------------------------------------------------ connection

    async def _connect_until_stopped(self) -> None:
        redirects = 0
        previous = ""
        while self._stop_mode is None:
            address = await self._detector.detect()
            if address != previous:
                self._backoff.reset()  # a new master: try it promptly, not after a long wait
                previous = address
            leader = None
            try:
                await self._session(address)
            except MasterUnavailable as exc:
                log.warning("master %s: %s", address, exc)
                leader = exc.leader if exc.leader != address else None
            except FrameworkRemoved:
                if self._stop_mode == "teardown":
                    return  # we asked for it
                raise
            except CallRejected as exc:
                # The master refused the subscription itself: retrying cannot help.
                await self._invoke("error", str(exc))
                raise
            finally:
                await self._lost_connection()
            if leader and redirects < 3:
                # A non-leader named the leader: follow it at once, not after a backoff.
                self._detector.appoint(leader)
                redirects += 1
                continue
            redirects = 0
            await self._pause(self._backoff.next(), address)

    async def _pause(self, seconds: float, address: str | None = None) -> None:
        # Sleep, but wake up at once when stop() is called or another master is elected.
        stopping = asyncio.ensure_future(self._stopping.wait())
        change = asyncio.ensure_future(self._detector.wait_change(address, seconds))
        try:
            await asyncio.wait({stopping, change}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (stopping, change):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def _lost_connection(self) -> None:
        was_connected, self._connected = self._connected, False
        self._subscribed.clear()
        self._offer_agents.clear()
        if was_connected and self._stop_mode is None:
            await self._invoke("disconnected")

    async def _session(self, address: str) -> None:
        """One subscription: read events and send calls until it ends or stop() is called."""
        async with open_channel(address, self._security) as channel:
            # The generated stub is untyped; its methods are used as the protos say.
            stub = scheduler_pb2_grpc.SchedulerStub(channel)  # type: ignore[no-untyped-call]
            stream = stub.Subscribe(self._subscribe_call())
            reader = asyncio.create_task(self._read_events(stream))
            sender = asyncio.create_task(self._send_calls(stub))
            stopper = asyncio.create_task(self._stopping.wait())
            try:
                done, _ = await asyncio.wait(
                    {reader, sender, stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopper in done:
                    # The reader keeps the stream open (the master refuses calls from a
                    # framework whose stream closed) but delivers no more events.
                    await self._finish(sender)
                    return
                # The reader or sender ended, which only happens by raising: re-raise it.
                await next(iter(done - {stopper}))
            finally:
                for task in (reader, sender, stopper):
                    task.cancel()
                stream.cancel()

    def _subscribe_call(self) -> Call:
        call = Call(type=Call.SUBSCRIBE, framework_id=self._info.id)
        call.subscribe.framework_info.CopyFrom(self._info)
        call.subscribe.suppressed_roles.extend(self._suppressed_roles)
        return call

    async def _finish(self, sender: asyncio.Task[None]) -> None:
        """Send what is queued (and TEARDOWN if asked), then let the session close."""
        if self._stop_mode == "abort" or not self._connected:
            if self._stop_mode == "teardown" and self.framework_id:
                log.warning(
                    "stopping while disconnected: the master removes the framework "
                    "after its failover timeout"
                )
            return
        if self._stop_mode == "teardown":
            self._enqueue(calls.teardown())
        self._pending.append(_END_OF_QUEUE)
        self._wakeup.set()
        try:
            await asyncio.wait_for(sender, self._call_timeout)
        except (TimeoutError, MesospyError) as exc:
            log.warning("could not send every queued call before stopping: %s", exc)

    # ------------------------------------------------------------------ events in

    async def _read_events(
        self, stream: grpc.aio.UnaryStreamCall[Call, scheduler_pb2.Events]
    ) -> None:
        while True:
            # Before SUBSCRIBED wait for the subscription; after it, a master that sends
            # nothing (not even HEARTBEAT) for a few intervals is treated as gone.
            timeout = (
                self._heartbeat * self._missed_heartbeats
                if self._connected
                else self._subscribe_timeout
            )
            try:
                batch = await asyncio.wait_for(stream.read(), timeout)
            except TimeoutError:
                raise MasterUnavailable(f"no event from the master for {timeout:.0f}s") from None
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from exc
            if batch is grpc.aio.EOF:  # type: ignore[attr-defined]  # missing from grpc-stubs
                raise MasterUnavailable("the master closed the event stream")
            assert isinstance(batch, scheduler_pb2.Events)
            if self._stop_mode is not None:
                continue
            for event in batch.events:
                await self._dispatch(event)

    async def _dispatch(self, event: Event) -> None:
        kind = event.type
        if kind == Event.SUBSCRIBED:
            await self._on_subscribed(event.subscribed)
        elif kind == Event.OFFERS:
            offers = list(event.offers.offers)
            self._offer_agents.update((offer.id, offer.agent_id) for offer in offers)
            await self._invoke("offers", offers)
        elif kind == Event.RESCIND:
            self._offer_agents.pop(event.rescind.offer_id, None)
            await self._invoke("rescinded", event.rescind.offer_id)
        elif kind == Event.UPDATE:
            await self._on_update(event.update.status)
        elif kind == Event.FAILURE:
            failure = event.failure
            status = failure.status if failure.HasField("status") else None
            await self._invoke("failure", failure.agent_id, failure.executor_id, status)
        elif kind == Event.MESSAGE:
            message = event.message
            await self._invoke(
                "framework_message", message.executor_id, message.agent_id, message.data
            )
        elif kind == Event.HEARTBEAT:
            await self._invoke("heartbeat")
        elif kind == Event.ERROR:
            log.error("the master removed the framework: %s", event.error.message)
            await self._invoke("error", event.error.message)
            raise FrameworkRemoved(event.error.message)
        else:
            log.debug("ignoring an event of unknown type %d", kind)

    async def _on_subscribed(self, subscribed: Event.Subscribed) -> None:
        self._info.id = subscribed.framework_id
        self._stream_id = subscribed.stream_id
        self._heartbeat = subscribed.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS
        self._connected = True
        self._backoff.reset()
        self._subscribed.set()
        log.info("subscribed as framework %s", subscribed.framework_id)
        await self._invoke("subscribed", subscribed.framework_id, subscribed.master_info)

    async def _on_update(self, status: common_pb2.TaskStatus) -> None:
        key = (status.task_id, status.uuid)
        if status.uuid and key in self._delivered:
            # A resend of an update the scheduler has had: not a new event. Acknowledge it
            # again if the first delivery was (the ack may have been lost); otherwise the
            # scheduler's own acknowledgement of the first delivery is still to come.
            log.debug(
                "status update %s of task %s delivered again", status.uuid.hex(), status.task_id
            )
            if self._delivered.is_acknowledged(key):
                self._enqueue(calls.acknowledge([status]))
            return
        handled = await self._invoke("status_update", status)
        # Ack only what the scheduler handled: a failed callback gets the update again.
        if handled and status.uuid:
            self._delivered.delivered(key)
            if self.implicit_acknowledgements:
                self._delivered.acknowledged(key)
                self._enqueue(calls.acknowledge([status]))

    async def _invoke(self, name: str, *args: object) -> bool:
        """Run a scheduler callback (awaiting it if async); False if it raised."""
        callback: Callable[..., Awaitable[None] | None] = getattr(self.scheduler, name)
        # One callback at a time, even when async ones await.
        async with self._callback_lock:
            try:
                result = callback(self, *args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("scheduler callback %s raised", name)
                return False
        return True

    # ------------------------------------------------------------------ calls out

    async def _send_calls(self, stub: scheduler_pb2_grpc.SchedulerStub) -> None:
        await self._subscribed.wait()
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._pending = self._pending, []
            planned = calls.plan_flush([item for item in batch if item is not _END_OF_QUEUE])
            for index, item in enumerate(planned):
                try:
                    await self._send(stub, item)
                except MasterUnavailable as exc:
                    self._requeue(item, planned[index + 1 :], exc)
                    raise
            if _END_OF_QUEUE in batch:
                return

    def _requeue(
        self,
        failed: calls.Outgoing,
        unsent: list[calls.Outgoing],
        error: MasterUnavailable,
    ) -> None:
        """Keep calls for the next connection after ``failed`` was lost in flight."""
        resend = failed.waiter is None and failed.call.type not in _NOT_RESENT
        if failed.waiter is not None and not failed.waiter.done():
            failed.waiter.set_exception(error)
        elif not resend:
            self._report(
                f"{Call.Type.Name(failed.call.type)} may not have reached the "
                f"master ({error}); reconcile to learn what happened"
            )
        self._pending[:0] = ([failed] if resend else []) + unsent

    async def _send(self, stub: scheduler_pb2_grpc.SchedulerStub, item: calls.Outgoing) -> None:
        call = item.call
        call.framework_id = self._info.id
        call.stream_id = self._stream_id
        try:
            await stub.Send(call, timeout=self._call_timeout)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if isinstance(error, MasterUnavailable):
                raise error from exc
            if item.waiter is not None:
                if not item.waiter.done():
                    item.waiter.set_exception(error)
            else:
                self._report(f"the master rejected {Call.Type.Name(call.type)}: {error}")
            return
        if item.waiter is not None and not item.waiter.done():
            item.waiter.set_result(None)

    def _report(self, message: str) -> None:
        # Delivered from a task of its own: the sender must not wait on a callback that
        # may itself be awaiting a call this sender has yet to send.
        log.warning("%s", message)
        task = asyncio.get_running_loop().create_task(self._report_error(message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _report_error(self, message: str) -> None:
        await self._invoke("error", message)
