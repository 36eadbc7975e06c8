"""Lean frameworks for the scale and failover benchmarks: many in one process.

Each speaks the real scheduler protocol (Subscribe stream + Send calls) over a channel
shared by all frameworks of the process; the leading master is found with the same
detector agents use (``host:port`` or ``zk://``), and a framework whose stream ends
subscribes again with its id (framework failover). What they do:

- launch ``sleep SECONDS`` tasks of ``task_resources`` on every offer, as many as fit,
  until ``limit`` tasks are launched (None: a backlog that never runs out);
- decline what they do not use with ``refuse_seconds``, and SUPPRESS once ``limit`` tasks
  are launched;
- acknowledge every update (one ACKNOWLEDGE call per batch of events).

They record, for the benchmarks: every offer received (wall-clock time and agent), every
terminal update (the agent's own timestamp of it), and anything wrong (a task ending in
another state than FINISHED, an offer id seen twice).
"""

from __future__ import annotations

import asyncio
import bisect
import getpass
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from mesospy.detector import MasterDetector
from mesospy.resources import Resources
from mesospy.scheduler import calls
from mesospy.task_states import TERMINAL_STATES
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb
from mesospy.v1 import scheduler_pb2_grpc as spb_grpc

log = logging.getLogger("sim_frameworks")
Event = spb.Event


@dataclass
class Record:
    """What every framework of the process saw (shared)."""

    offers: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    freed: list[tuple[str, float]] = field(default_factory=list)  # (agent, agent's stamp)
    offer_ids: set[str] = field(default_factory=set)
    double_offers: int = 0
    launched: int = 0
    declined: int = 0
    finished: int = 0
    dropped: int = 0
    running_updates: int = 0
    wrong_states: Counter[str] = field(default_factory=Counter)
    send_errors: Counter[str] = field(default_factory=Counter)
    wrong_examples: list[str] = field(default_factory=list)
    subscriptions: int = 0
    offer_events_after: list[float] = field(default_factory=list)  # first offer per sub

    def offer_latencies(self, start: float, end: float, censor: float) -> tuple[list[float], int]:
        """For each freeing in [start, end): seconds until the next offer of that agent's
        resources reached any framework; freeings never re-offered by ``censor`` count as
        ``censor - freed`` (and are returned as a count too)."""
        for times in self.offers.values():
            times.sort()
        out: list[float] = []
        never = 0
        for agent_id, freed in self.freed:
            if not start <= freed < end:
                continue
            times = self.offers.get(agent_id, [])
            i = bisect.bisect_left(times, freed)
            if i < len(times) and times[i] <= censor:
                out.append(times[i] - freed)
            else:
                never += 1
                out.append(censor - freed)
        return out, never


class LeanFramework:
    """One framework: subscribe, launch on offers, acknowledge, follow the leader."""

    def __init__(
        self,
        name: str,
        channels: ChannelPool,
        record: Record,
        task_resources: Resources,
        task_seconds: Callable[[], float],
        limit: int | None,
        refuse_seconds: float,
        in_flight: int | None = None,
    ) -> None:
        self.name = name
        self.channels = channels
        self.record = record
        self.per_task = task_resources
        self.per_task_proto = task_resources.to_proto()
        self.task_seconds = task_seconds
        self.limit = limit
        self.refuse_seconds = refuse_seconds
        self.info = pb.FrameworkInfo(name=name, user=getpass.getuser(), failover_timeout=3600)
        self.framework_id = ""
        self.stream_id = ""
        self.next_task = 0
        self.running: set[str] = set()
        self.subscribed = asyncio.Event()
        self.subscribed_at = 0.0
        self.first_offer_at = 0.0  # of the current subscription
        self.suppressed = False
        self._sends: set[asyncio.Task[None]] = set()
        # None: every call at once (scale.py: its acknowledgements must not wait, or
        # agents resend their updates); a number: at most that many under way (as the
        # SDK, which sends one at a time; failover.py's 100k-task launch wave otherwise
        # overruns the master's bounded queue and has calls shed).
        self._in_flight = asyncio.Semaphore(in_flight or 1_000_000)

    async def run(self) -> None:
        while True:
            try:
                stub = await self.channels.stub()
                await self._subscription(stub)
            except grpc.aio.AioRpcError as exc:
                log.info("%s: stream ended: %s", self.name, exc.code().name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: subscription failed", self.name)
            self.subscribed.clear()
            self.channels.lost()
            await asyncio.sleep(random.uniform(0.05, 0.2))

    async def _subscription(self, stub: spb_grpc.SchedulerStub) -> None:
        call = spb.Call(type=spb.Call.SUBSCRIBE, framework_id=self.framework_id)
        info = pb.FrameworkInfo()
        info.CopyFrom(self.info)
        info.id = self.framework_id
        call.subscribe.framework_info.CopyFrom(info)
        stream = stub.Subscribe(call)
        async for events in stream:
            for event in events.events:
                if event.type == Event.SUBSCRIBED:
                    self.framework_id = event.subscribed.framework_id
                    self.stream_id = event.subscribed.stream_id
                    self.subscribed_at = time.time()
                    self.first_offer_at = 0.0
                    self.suppressed = False
                    self.record.subscriptions += 1
                    self.subscribed.set()
            self._handle(stub, events)

    def _handle(self, stub: spb_grpc.SchedulerStub, events: spb.Events) -> None:
        now = time.time()
        acks: list[pb.TaskStatus] = []
        for event in events.events:
            if event.type == Event.OFFERS:
                if not self.first_offer_at:
                    self.first_offer_at = now
                for offer in event.offers.offers:
                    self._offer(stub, offer, now)
            elif event.type == Event.UPDATE:
                status = event.update.status
                if status.uuid:
                    acks.append(status)
                self._update(status)
            elif event.type == Event.ERROR:
                log.warning("%s: ERROR event: %s", self.name, event.error.message)
        if acks:
            self._send(stub, calls.acknowledge(acks))

    def _offer(self, stub: spb_grpc.SchedulerStub, offer: pb.Offer, now: float) -> None:
        record = self.record
        if offer.id in record.offer_ids:
            record.double_offers += 1
        record.offer_ids.add(offer.id)
        record.offers[offer.agent_id].append(now)
        free = Resources.from_proto(offer.resources)
        tasks: list[pb.TaskInfo] = []
        while (self.limit is None or self.next_task < self.limit) and free.contains(self.per_task):
            free = free - self.per_task
            task_id = f"{self.name}-t{self.next_task}"
            self.next_task += 1
            info = pb.TaskInfo(
                task_id=task_id,
                name=task_id,
                agent_id=offer.agent_id,
                resources=self.per_task_proto,
            )
            info.command.shell = f"sleep {self.task_seconds():.3f}"
            tasks.append(info)
            self.running.add(task_id)
        if tasks:
            record.launched += len(tasks)
            self._send(stub, calls.launch([offer.id], tasks, calls.refuse(self.refuse_seconds)))
        else:
            record.declined += 1
            self._send(stub, calls.decline([offer.id], self.refuse_seconds))
            if self.limit is not None and self.next_task >= self.limit and not self.suppressed:
                # All launched: no more offers, as a real framework would ask (after a
                # failover the new leader does not know it, offers come, and it asks again).
                self.suppressed = True
                self._send(stub, calls.suppress())

    def _update(self, status: pb.TaskStatus) -> None:
        state = status.state
        if state == pb.TASK_RUNNING:
            self.record.running_updates += 1
            return
        if state not in TERMINAL_STATES:
            return
        if status.task_id not in self.running:
            return  # a resent terminal update (already counted)
        self.running.discard(status.task_id)
        if state == pb.TASK_FINISHED:
            self.record.finished += 1
            self.record.freed.append((status.agent_id, status.timestamp))
        elif state == pb.TASK_DROPPED:
            # The launch never reached the agent (it was re-registering): not a lost task;
            # counted and reported.
            self.record.dropped += 1
        else:
            name = pb.TaskState.Name(state)
            self.record.wrong_states[name] += 1
            if len(self.record.wrong_examples) < 10:
                self.record.wrong_examples.append(f"{status.task_id}: {name} ({status.message})")

    def _send(self, stub: spb_grpc.SchedulerStub, call: spb.Call) -> None:
        call.framework_id = self.framework_id
        call.stream_id = self.stream_id
        job = asyncio.ensure_future(self._deliver(stub, call))
        self._sends.add(job)
        job.add_done_callback(self._sends.discard)

    async def _deliver(self, stub: spb_grpc.SchedulerStub, call: spb.Call) -> None:
        for attempt in range(5):
            try:
                async with self._in_flight:
                    await stub.Send(call, timeout=30)
                return
            except grpc.aio.UsageError:
                return  # the framework closed its channel (the bench is ending)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED or attempt == 4:
                    self._failed(call, exc)
                    return
                # An overloaded master's gRPC sheds calls before the master sees them
                # (CANCELLED): send it again, or the offers it answers stay held until an
                # offer timeout (none by default).
                self.record.send_errors[f"{spb.Call.Type.Name(call.type)} CANCELLED, resent"] += 1
                await asyncio.sleep(random.uniform(0.1, 0.5) * (attempt + 1))

    def _failed(self, call: spb.Call, exc: grpc.aio.AioRpcError) -> None:
        """Counted (in a failover the offers a call answered are void anyway)."""
        key = f"{spb.Call.Type.Name(call.type)} {exc.code().name}"
        self.record.send_errors[key] += 1
        if len(self.record.wrong_examples) < 10 and exc.code() != grpc.StatusCode.UNAVAILABLE:
            self.record.wrong_examples.append(f"{key}: {exc.details()}")


class ChannelPool:
    """A channel to the leading master, replaced when the leader changes. Give each
    framework its own (its own connection, as separate framework processes have), sharing
    one ``detector``."""

    def __init__(self, master: str, detector: MasterDetector | None = None) -> None:
        self._own_detector = detector is None
        self.detector = detector or MasterDetector(master)
        self._target = ""
        self._channel: grpc.aio.Channel | None = None
        self._stub: spb_grpc.SchedulerStub | None = None
        self._lock = asyncio.Lock()

    async def stub(self) -> spb_grpc.SchedulerStub:
        async with self._lock:
            target = await self.detector.detect(timeout=None)
            if self._stub is None or target != self._target:
                if self._channel is not None:
                    await self._channel.close(None)
                self._channel = grpc.aio.insecure_channel(
                    target,
                    options=[
                        ("grpc.enable_http_proxy", 0),
                        ("grpc.max_receive_message_length", 64 << 20),
                    ],
                )
                self._stub = spb_grpc.SchedulerStub(self._channel)  # type: ignore[no-untyped-call]
                self._target = target
            return self._stub

    def lost(self) -> None:
        """A stream failed: the next ``stub()`` asks the detector again."""

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        if self._own_detector:
            await self.detector.close()
