"""Operator events: what changed in the master, fanned out to ``Subscribe`` streams.

The handlers call one hook per change (``task_added``, ``agent_removed``, ...). With no
subscriber every hook returns at once, so the hot paths pay for a subscriber only while
one is connected. Each subscriber has its own bounded queue: a subscriber that cannot keep
up is cut off (its stream ends with an error) rather than slowing the master or growing
its memory without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from mesospy.master.snapshot import agent_state, framework_state
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

if TYPE_CHECKING:
    from mesospy.master.master import Master
    from mesospy.master.state import AgentRecord, FrameworkRecord, TaskRecord

Event = opb.OperatorEvent
MAX_QUEUED = 10_000


class SubscriberTooSlow(Exception):
    """A subscriber fell more than ``MAX_QUEUED`` events behind."""


class Subscriber:
    """One operator's event stream."""

    def __init__(self, heartbeat_interval: float) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.heartbeat_interval = heartbeat_interval
        self.overflowed = False

    def put(self, event: Event) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_QUEUED:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)

    async def events(self) -> AsyncIterator[Event]:
        """Queued events, and a HEARTBEAT whenever nothing happened for a while."""
        while True:
            try:
                event = await asyncio.wait_for(self.queue.get(), self.heartbeat_interval)
            except TimeoutError:
                yield Event(type=Event.HEARTBEAT, timestamp=time.time())
                continue
            if event is None:
                raise SubscriberTooSlow(
                    f"the event stream fell {MAX_QUEUED} events behind; subscribe again"
                )
            yield event


class EventBus:
    """Turns the master's changes into ``OperatorEvent``s for every subscriber."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self._subscribers: set[Subscriber] = set()

    # ---------------------------------------------------------------- subscribers

    def subscribe(self, heartbeat_interval: float) -> Subscriber:
        subscriber = Subscriber(heartbeat_interval)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def queued(self) -> int:
        """Events waiting in subscribers' queues (a metric)."""
        return sum(s.queue.qsize() for s in self._subscribers)

    def _publish(self, event: Event) -> None:
        event.timestamp = time.time()
        for subscriber in self._subscribers:
            subscriber.put(event)

    # ---------------------------------------------------------------- hooks

    def task_added(self, task: TaskRecord) -> None:
        if self._subscribers:
            self._publish(Event(type=Event.TASK_ADDED, task=task.to_proto()))

    def task_updated(self, task: TaskRecord, status: pb.TaskStatus | None = None) -> None:
        """A task's state changed; ``status`` is the update (default: the task's newest)."""
        if self._subscribers:
            proto = task.to_proto()
            if status is not None:
                proto.status.CopyFrom(status)
                proto.state = status.state
            self._publish(Event(type=Event.TASK_UPDATED, task=proto))

    def agent_added(self, agent: AgentRecord) -> None:
        if self._subscribers:
            self._publish(Event(type=Event.AGENT_ADDED, agent=agent_state(self.m, agent)))

    def agent_updated(self, agent: AgentRecord) -> None:
        if self._subscribers:
            self._publish(Event(type=Event.AGENT_UPDATED, agent=agent_state(self.m, agent)))

    def agent_removed(self, agent_id: str, reason: str = "") -> None:
        if self._subscribers:
            self._publish(Event(type=Event.AGENT_REMOVED, agent_id=agent_id, reason=reason))

    def framework_added(self, framework: FrameworkRecord) -> None:
        if self._subscribers:
            state = framework_state(self.m, framework)
            self._publish(Event(type=Event.FRAMEWORK_ADDED, framework=state))

    def framework_updated(self, framework: FrameworkRecord) -> None:
        if self._subscribers:
            state = framework_state(self.m, framework)
            self._publish(Event(type=Event.FRAMEWORK_UPDATED, framework=state))

    def framework_removed(self, framework_id: str, reason: str = "") -> None:
        if self._subscribers:
            self._publish(
                Event(type=Event.FRAMEWORK_REMOVED, framework_id=framework_id, reason=reason)
            )
