"""Reliable, in-order status update delivery (Mesos's status update manager).

``UpdateStreams`` is the pure state machine: per task, a queue of updates of which only the
oldest is in flight; it is resent with backoff until acknowledged, and the next one goes
out only after that. It takes the time as an argument and does no I/O, so it is tested
with plain data. ``StatusUpdateManager`` is the I/O shell: it persists updates and acks,
and sends every due update in batches (messages on the agent's session with the master).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from mesospy.task_states import is_terminal
from mesospy.v1 import agent_pb2, common_pb2
from mesospy.wakeup import wait_event

log = logging.getLogger(__name__)

TaskKey = tuple[str, str]  # (framework_id, task_id)


@dataclass
class _Stream:
    pending: deque[common_pb2.TaskStatus] = field(default_factory=deque)
    latest_state: int = common_pb2.TASK_STATE_UNSPECIFIED
    backoff: float = 0.0
    # Bumped whenever the head changes or is rescheduled, to drop stale heap entries.
    generation: int = 0


@dataclass(frozen=True)
class AckResult:
    """What an acknowledgement did."""

    accepted: bool  # it matched the update in flight
    finished: bool  # it acknowledged the task's terminal update: the stream is done


class UpdateStreams:
    """Per-task update queues with at-most-one-in-flight and retry backoff (pure)."""

    def __init__(self, retry_min: float = 10.0, retry_max: float = 60.0) -> None:
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._streams: dict[TaskKey, _Stream] = {}
        self._ready: dict[TaskKey, None] = {}  # heads never sent yet (insertion ordered)
        self._retries: list[tuple[float, int, TaskKey]] = []  # (due, generation, key)
        self.retries = 0  # unacknowledged updates resent (a metric)

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, key: object) -> bool:
        return key in self._streams

    def add(self, key: TaskKey, status: common_pb2.TaskStatus) -> None:
        """Queue an update; it is due at once if nothing of its task is in flight."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        stream.pending.append(status)
        stream.latest_state = status.state
        if len(stream.pending) == 1:
            self._make_ready(key, stream)

    def latest_state(self, key: TaskKey) -> int | None:
        stream = self._streams.get(key)
        return stream.latest_state if stream else None

    def pending(self, key: TaskKey) -> list[common_pb2.TaskStatus]:
        stream = self._streams.get(key)
        return list(stream.pending) if stream else []

    def keys(self) -> Iterable[TaskKey]:
        return self._streams.keys()

    def due(self, now: float, limit: int | None = None) -> list[agent_pb2.StatusUpdate]:
        """The updates to send now (each stream's head, new or due for a retry); each is
        then scheduled for its next retry."""
        out: list[agent_pb2.StatusUpdate] = []
        while self._ready and (limit is None or len(out) < limit):
            key = next(iter(self._ready))
            del self._ready[key]
            self._send(key, now, out)
        while self._retries and self._retries[0][0] <= now and (limit is None or len(out) < limit):
            _, generation, key = heapq.heappop(self._retries)
            stream = self._streams.get(key)
            if stream is not None and stream.generation == generation and key not in self._ready:
                self.retries += 1
                self._send(key, now, out)
        return out

    def next_retry(self) -> float | None:
        """When the earliest retry falls due (stale entries are dropped on the way)."""
        while self._retries:
            _, generation, key = self._retries[0]
            stream = self._streams.get(key)
            if stream is not None and stream.generation == generation:
                return self._retries[0][0]
            heapq.heappop(self._retries)
        return None

    def has_ready(self) -> bool:
        return bool(self._ready)

    def acknowledge(self, key: TaskKey, uuid: bytes) -> AckResult:
        stream = self._streams.get(key)
        if stream is None or not stream.pending or stream.pending[0].uuid != uuid:
            return AckResult(accepted=False, finished=False)
        acked = stream.pending.popleft()
        stream.generation += 1
        stream.backoff = 0.0
        if stream.pending:
            self._make_ready(key, stream)
            return AckResult(accepted=True, finished=False)
        if is_terminal(acked.state):
            del self._streams[key]
            return AckResult(accepted=True, finished=True)
        return AckResult(accepted=True, finished=False)

    def resend_all(self) -> None:
        """Make every unacknowledged head due now (after a (re-)registration)."""
        for key, stream in self._streams.items():
            if stream.pending:
                self._make_ready(key, stream)

    def _make_ready(self, key: TaskKey, stream: _Stream) -> None:
        stream.generation += 1
        stream.backoff = 0.0
        self._ready[key] = None

    def _send(self, key: TaskKey, now: float, out: list[agent_pb2.StatusUpdate]) -> None:
        stream = self._streams[key]
        head = stream.pending[0]
        out.append(
            agent_pb2.StatusUpdate(
                framework_id=key[0],
                status=head,
                latest_state=stream.latest_state,  # type: ignore[arg-type]
            )
        )
        stream.backoff = (
            self._retry_min if stream.backoff == 0 else min(stream.backoff * 2, self._retry_max)
        )
        stream.generation += 1
        heapq.heappush(self._retries, (now + stream.backoff, stream.generation, key))


Sender = Callable[[list[agent_pb2.StatusUpdate]], Awaitable[None]]

# One batch carries at most this many updates; more go in the next one right after.
MAX_BATCH = 2000
# Updates going out within this long of the previous batch wait and go together: under load
# a few large batches cost the master and the framework far less than many small ones
# (each has a fixed cost there), and an idle agent still sends at once.
LINGER_SECONDS = 0.05


class StatusUpdateManager:
    """Sends status updates to the master until acknowledged, in order per task.

    ``sender`` is set while the agent is registered; updates wait while it is None.
    ``on_finished(key)`` is called once a task's terminal update is acknowledged.
    ``on_persist(kind, ...)`` hooks the checkpoint in.
    """

    def __init__(
        self,
        streams: UpdateStreams,
        on_finished: Callable[[TaskKey], None],
        on_update: Callable[[TaskKey, common_pb2.TaskStatus], None] | None = None,
        on_ack: Callable[[TaskKey, bytes], None] | None = None,
        before_send: Callable[[], None] | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.streams = streams
        self._linger = linger
        self._on_finished = on_finished
        self._on_update = on_update
        self._on_ack = on_ack
        self._before_send = before_send
        self._sender: Sender | None = None
        self._wake = asyncio.Event()

    def set_sender(self, sender: Sender | None) -> None:
        self._sender = sender
        if sender is not None:
            self.streams.resend_all()
            self._wake.set()

    def add(self, key: TaskKey, status: common_pb2.TaskStatus) -> None:
        if self._on_update is not None:
            self._on_update(key, status)
        self.streams.add(key, status)
        self._wake.set()

    def acknowledge(self, key: TaskKey, uuid: bytes) -> AckResult:
        result = self.streams.acknowledge(key, uuid)
        if result.accepted:
            if self._on_ack is not None:
                self._on_ack(key, uuid)
            if result.finished:
                self._on_finished(key)
            else:
                self._wake.set()
        return result

    async def run(self) -> None:
        """Send due updates until cancelled."""
        loop = asyncio.get_running_loop()
        last_send = -self._linger
        while True:
            sender = self._sender
            if sender is None:
                await self._wait(None)
                continue
            pause = last_send + self._linger - loop.time()
            if pause > 0 and self.streams.has_ready():
                await asyncio.sleep(pause)
                continue  # the sender may have changed meanwhile
            batch = self.streams.due(loop.time(), MAX_BATCH)
            if batch:
                if self._before_send is not None:
                    # Write-ahead: what goes out is on disk first (one flush per batch).
                    self._before_send()
                last_send = loop.time()
                try:
                    await sender(batch)
                except Exception as exc:  # the retry schedule covers every failure
                    log.info("sending %d status updates failed: %s", len(batch), exc)
                continue
            deadline = self.streams.next_retry()
            await self._wait(None if deadline is None else max(0.0, deadline - loop.time()))

    async def _wait(self, timeout: float | None) -> None:
        self._wake.clear()
        if self.streams.has_ready() and self._sender is not None:
            return
        await wait_event(self._wake, timeout)
