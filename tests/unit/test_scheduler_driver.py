"""The SchedulerDriver against an in-process fake master (a real gRPC server).

The fake answers the scheduler API as the contract says; each test scripts its events and
checks the calls the driver sends. Synchronisation is by queues, never by sleeping.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import grpc
import pytest

from mesospy.detector import MasterDetector
from mesospy.scheduler import (
    Backoff,
    FrameworkRemoved,
    InvalidCall,
    NotFound,
    Scheduler,
    SchedulerDriver,
    calls,
    task,
)
from mesospy.v1 import common_pb2, scheduler_pb2, scheduler_pb2_grpc

Call = scheduler_pb2.Call
Event = scheduler_pb2.Event
Events = scheduler_pb2.Events
TIMEOUT = 10.0


class FakeMaster(scheduler_pb2_grpc.SchedulerServicer):
    """Records subscriptions and calls; streams whatever the test pushes."""

    def __init__(self, heartbeat: float = 15.0) -> None:
        self.heartbeat = heartbeat
        self.subscribes: asyncio.Queue[Call] = asyncio.Queue()
        self.calls: asyncio.Queue[Call] = asyncio.Queue()
        self.streams: asyncio.Queue[asyncio.Queue[Events | None]] = asyncio.Queue()
        self.rejections: dict[int, tuple[grpc.StatusCode, str]] = {}
        self.subscribe_error: tuple[grpc.StatusCode, str] | None = None
        self.address = ""

    async def Subscribe(
        self, request: Call, context: grpc.aio.ServicerContext[Call, Events]
    ) -> AsyncIterator[Events]:
        self.subscribes.put_nowait(request)
        if self.subscribe_error:
            await context.abort(*self.subscribe_error)
        framework_id = request.subscribe.framework_info.id or "fw-1"
        subscribed = Event(type=Event.SUBSCRIBED)
        subscribed.subscribed.framework_id = framework_id
        subscribed.subscribed.heartbeat_interval_seconds = self.heartbeat
        subscribed.subscribed.stream_id = f"stream-{self.subscribes.qsize()}"
        yield Events(events=[subscribed])
        out: asyncio.Queue[Events | None] = asyncio.Queue()
        self.streams.put_nowait(out)
        while (batch := await out.get()) is not None:
            yield batch

    async def Send(
        self, request: Call, context: grpc.aio.ServicerContext[Call, scheduler_pb2.Response]
    ) -> scheduler_pb2.Response:
        self.calls.put_nowait(request)
        if request.type in self.rejections:
            await context.abort(*self.rejections[request.type])
        return scheduler_pb2.Response()

    async def next_call(self, kind: int) -> Call:
        """The next call of type ``kind``, skipping others."""
        while (call := await self.calls.get()).type != kind:
            pass
        return call


class Recorder(Scheduler):
    """Puts every callback on a queue; optional hooks act on offers and updates."""

    def __init__(self) -> None:
        self.seen: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self.on_offers: Callable[[SchedulerDriver, list[common_pb2.Offer]], None] | None = None

    def subscribed(self, driver: SchedulerDriver, *args: Any) -> None:
        self.seen.put_nowait(("subscribed", args))

    def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        self.seen.put_nowait(("offers", (offers,)))
        if self.on_offers:
            self.on_offers(driver, offers)

    async def status_update(self, driver: SchedulerDriver, status: common_pb2.TaskStatus) -> None:
        self.seen.put_nowait(("status_update", (status,)))  # async on purpose: must be awaited

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.seen.put_nowait(("error", (message,)))

    def disconnected(self, driver: SchedulerDriver) -> None:
        self.seen.put_nowait(("disconnected", ()))

    async def next(self, name: str) -> tuple[Any, ...]:
        """The arguments of the next ``name`` callback, skipping others."""
        while True:
            seen, args = await self.seen.get()
            if seen == name:
                return args


async def start_master(master: FakeMaster) -> grpc.aio.Server:
    server = grpc.aio.server()
    scheduler_pb2_grpc.add_SchedulerServicer_to_server(master, server)
    port = server.add_insecure_port("127.0.0.1:0")
    master.address = f"127.0.0.1:{port}"
    await server.start()
    return server


def make_driver(master: FakeMaster, scheduler: Scheduler, **kwargs: Any) -> SchedulerDriver:
    info = common_pb2.FrameworkInfo(name="test", failover_timeout=60)
    fast = Backoff(initial=0.01, cap=0.05, rng=random.Random(0))
    return SchedulerDriver(scheduler, info, master.address, backoff=fast, **kwargs)


Scenario = Callable[[FakeMaster, Recorder], Coroutine[Any, Any, None]]


def run(scenario: Scenario, heartbeat: float = 15.0) -> None:
    async def main() -> None:
        master = FakeMaster(heartbeat)
        server = await start_master(master)
        try:
            await asyncio.wait_for(scenario(master, Recorder()), TIMEOUT)
        finally:
            await server.stop(None)

    asyncio.run(main())


def update(task_id: str, uuid: bytes) -> Event:
    event = Event(type=Event.UPDATE)
    event.update.status.CopyFrom(
        common_pb2.TaskStatus(
            task_id=task_id, agent_id="a1", state=common_pb2.TASK_FINISHED, uuid=uuid
        )
    )
    return event


def offers_event(*offer_ids: str) -> Events:
    event = Event(type=Event.OFFERS)
    for offer_id in offer_ids:
        event.offers.offers.add(id=offer_id, agent_id="a1", framework_id="fw-1")
    return Events(events=[event])


async def finish(driver_task: Awaitable[int]) -> int:
    return await asyncio.wait_for(driver_task, TIMEOUT)


def test_launch_fills_agent_id_and_acks_are_coalesced() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        def launch(driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
            for offer in offers:
                driver.launch(offer.id, [task(f"t-{offer.id}", "true", "cpus:0.1")])

        scheduler.on_offers = launch
        driver = make_driver(master, scheduler)
        running = asyncio.create_task(driver.run_async())
        stream = await master.streams.get()
        stream.put_nowait(offers_event("o1"))
        accept = await master.next_call(Call.ACCEPT)
        assert accept.framework_id == "fw-1"
        assert accept.stream_id == "stream-1"
        assert [t.agent_id for t in accept.accept.operations[0].launch.task_infos] == ["a1"]

        updates = [update(f"t{i}", f"u{i}".encode()) for i in range(50)]
        updates.append(update("no-ack", b""))  # master-generated: not acknowledged
        stream.put_nowait(Events(events=updates))
        acked = await master.next_call(Call.ACKNOWLEDGE)
        assert [a.task_id for a in acked.acknowledges] == [f"t{i}" for i in range(50)]

        driver.stop()
        await master.next_call(Call.TEARDOWN)
        assert await finish(running) == 0

    run(scenario)


def test_resubscribes_with_its_framework_id_after_the_stream_ends() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler)
        running = asyncio.create_task(driver.run_async())
        first = await master.subscribes.get()
        assert first.subscribe.framework_info.id == ""
        stream = await master.streams.get()
        await scheduler.next("subscribed")
        assert driver.framework_id == "fw-1"

        stream.put_nowait(None)  # the master closes the stream
        await scheduler.next("disconnected")
        again = await master.subscribes.get()
        assert again.subscribe.framework_info.id == "fw-1"
        await scheduler.next("subscribed")
        await master.streams.get()

        driver.stop(failover=True)
        assert await finish(running) == 0
        assert all(c.type != Call.TEARDOWN for c in drain(master.calls))

    run(scenario)


def test_a_silent_master_is_treated_as_gone() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler)
        running = asyncio.create_task(driver.run_async())
        await master.streams.get()  # then no event, not even HEARTBEAT
        await scheduler.next("disconnected")
        await master.subscribes.get()
        await master.subscribes.get()  # re-subscribed
        driver.abort()
        assert await finish(running) == 1

    run(scenario, heartbeat=0.05)


def test_error_event_stops_the_driver() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler)
        running = asyncio.create_task(driver.run_async())
        stream = await master.streams.get()
        error = Event(type=Event.ERROR)
        error.error.message = "framework torn down by an operator"
        stream.put_nowait(Events(events=[error]))
        assert await scheduler.next("error") == ("framework torn down by an operator",)
        with pytest.raises(FrameworkRemoved, match="torn down"):
            await finish(running)

    run(scenario)


def test_rejected_calls_reach_scheduler_error_or_raise_when_awaited() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        master.rejections[Call.KILL] = (grpc.StatusCode.NOT_FOUND, "unknown task 't9'")
        master.rejections[Call.DECLINE] = (grpc.StatusCode.INVALID_ARGUMENT, "no offer 'o9'")
        driver = make_driver(master, scheduler)
        running = asyncio.create_task(driver.run_async())
        await master.streams.get()

        driver.kill("t9")
        (message,) = await scheduler.next("error")
        assert "KILL" in message and "unknown task 't9'" in message
        with pytest.raises(NotFound, match="unknown task"):
            await driver.call(calls.kill("t9"))
        with pytest.raises(InvalidCall, match="no offer"):
            await driver.call(calls.decline(["o9"]))
        await driver.call(calls.revive())  # accepted: returns

        driver.abort()
        assert await finish(running) == 1

    run(scenario)


def test_explicit_acknowledgements_wait_for_the_scheduler() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler, implicit_acknowledgements=False)
        running = asyncio.create_task(driver.run_async())
        stream = await master.streams.get()
        stream.put_nowait(Events(events=[update("t1", b"u1")]))
        (status,) = await scheduler.next("status_update")
        driver.reconcile()  # a marker: sent after anything the driver would have acked
        await master.next_call(Call.RECONCILE)
        assert all(c.type != Call.ACKNOWLEDGE for c in drain(master.calls))

        driver.acknowledge(status)
        acked = await master.next_call(Call.ACKNOWLEDGE)
        assert [(a.task_id, a.uuid) for a in acked.acknowledges] == [("t1", b"u1")]
        driver.abort()
        await finish(running)

    run(scenario)


def test_follows_a_redirect_to_the_leader() -> None:
    async def scenario(leader: FakeMaster, scheduler: Recorder) -> None:
        follower = FakeMaster()
        server = await start_master(follower)
        try:
            details = f"not the leader; leader={leader.address}"
            follower.subscribe_error = (grpc.StatusCode.UNAVAILABLE, details)
            driver = make_driver(follower, scheduler)
            running = asyncio.create_task(driver.run_async())
            await follower.subscribes.get()
            await leader.streams.get()
            await scheduler.next("subscribed")
            driver.abort()
            await finish(running)
        finally:
            await server.stop(None)

    run(scenario)


def test_a_refused_subscription_is_fatal() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        master.subscribe_error = (grpc.StatusCode.INVALID_ARGUMENT, "framework name is empty")
        driver = make_driver(master, scheduler)
        with pytest.raises(InvalidCall, match="framework name is empty"):
            await finish(driver.run_async())
        assert "framework name is empty" in (await scheduler.next("error"))[0]

    run(scenario)


def test_calls_made_before_run_are_sent_after_subscribing() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler)
        driver.suppress(["web"])
        running = asyncio.create_task(driver.run_async())
        call = await master.next_call(Call.SUPPRESS)
        assert list(call.suppress.roles) == ["web"]
        assert call.framework_id == "fw-1"
        driver.abort()
        await finish(running)

    run(scenario)


def test_detector_is_used_when_given() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        info = common_pb2.FrameworkInfo(name="test")
        driver = SchedulerDriver(scheduler, info, detector=MasterDetector(master.address))
        running = asyncio.create_task(driver.run_async())
        await scheduler.next("subscribed")
        driver.abort()
        await finish(running)

    run(scenario)


def drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def test_a_resent_update_reaches_the_scheduler_once_and_is_acked_again() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler)
        running = asyncio.create_task(driver.run_async())
        stream = await master.streams.get()
        stream.put_nowait(Events(events=[update("t1", b"u1")]))
        (_status,) = await scheduler.next("status_update")
        first = await master.next_call(Call.ACKNOWLEDGE)
        assert [(a.task_id, a.uuid) for a in first.acknowledges] == [("t1", b"u1")]
        # The same update again (an agent's or a new master's resend), then a new one.
        stream.put_nowait(Events(events=[update("t1", b"u1")]))
        again = await master.next_call(Call.ACKNOWLEDGE)
        assert [(a.task_id, a.uuid) for a in again.acknowledges] == [("t1", b"u1")]
        stream.put_nowait(Events(events=[update("t1", b"u2")]))
        (newer,) = await scheduler.next("status_update")
        assert newer.uuid == b"u2"
        assert all(name != "status_update" for name, _ in drain(scheduler.seen))
        driver.abort()
        await finish(running)

    run(scenario)


def test_with_explicit_acks_a_resend_waits_for_the_schedulers_ack() -> None:
    async def scenario(master: FakeMaster, scheduler: Recorder) -> None:
        driver = make_driver(master, scheduler, implicit_acknowledgements=False)
        running = asyncio.create_task(driver.run_async())
        stream = await master.streams.get()
        stream.put_nowait(Events(events=[update("t1", b"u1"), update("t1", b"u1")]))
        (status,) = await scheduler.next("status_update")
        driver.reconcile()  # a marker: sent after anything the driver would have sent
        await master.next_call(Call.RECONCILE)
        calls_so_far = drain(master.calls)
        assert all(c.type != Call.ACKNOWLEDGE for c in calls_so_far)
        assert all(name != "status_update" for name, _ in drain(scheduler.seen))
        driver.acknowledge(status)
        await master.next_call(Call.ACKNOWLEDGE)
        # Acknowledged now: a later resend is answered by the driver alone.
        stream.put_nowait(Events(events=[update("t1", b"u1")]))
        await master.next_call(Call.ACKNOWLEDGE)
        assert all(name != "status_update" for name, _ in drain(scheduler.seen))
        driver.abort()
        await finish(running)

    run(scenario)
