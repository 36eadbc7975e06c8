"""One operator event stream shared by every open dashboard.

However many browsers are open, the master feeds one subscriber of its event bus (the
stream behind the operator API's ``Subscribe``), and each event is turned into JSON once.
The feed keeps only each task's state (by framework and task id), so that it can count
tasks by state and tell the pages which state a task left: a page need not hold 100,000
tasks to show their counts. A browser joining gets a snapshot first: agents, frameworks,
the counts, and the tasks themselves while there are at most ``FULL_TASKS``.

The feed runs only while a dashboard is open: with none, the master's event bus has no
subscriber for it, and its hot paths pay nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mesospy.http import sse
from mesospy.master import snapshot
from mesospy.master.events import Subscriber
from mesospy.task_states import is_terminal
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb
from mesospy.webui.encode import (
    STATE_NAMES,
    agent_json,
    task_json,
    task_update_json,
    to_json,
)

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)
Event = opb.OperatorEvent
FULL_TASKS = 5_000  # up to this many tasks, a snapshot carries them all
KEEPALIVE = 15.0  # seconds between comments on a quiet stream (proxies close idle ones)
MAX_BEHIND = 10_000  # events a browser may lag before it is cut off (it reconnects)
_END = None  # ends a listener's stream


class Listener:
    """One browser's stream: SSE text, ended by ``_END``."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.cut = False

    def put(self, text: str | None) -> None:
        if self.cut:
            return
        if self.queue.qsize() >= MAX_BEHIND:
            self.cut = True
            self.queue.put_nowait(_END)
            return
        self.queue.put_nowait(text)

    async def texts(self) -> AsyncIterator[str]:
        """What is queued, in one piece per wake-up: under a stream of events a socket
        write per event would cost more than the events."""
        while True:
            try:
                text = await asyncio.wait_for(self.queue.get(), KEEPALIVE)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            batch: list[str] = []
            while text is not _END:
                batch.append(text)
                if self.queue.empty():
                    break
                text = self.queue.get_nowait()
            if batch:
                yield "".join(batch)
            if text is _END:
                return


class Feed:
    """The master's events for every open dashboard."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self.listeners: set[Listener] = set()
        self._subscriber: Subscriber | None = None
        self._pump: asyncio.Task[None] | None = None
        self._active: dict[tuple[str, str], int] = {}
        # Terminal tasks as the master keeps them: the newest max_completed_tasks.
        self._done: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.counts: Counter[int] = Counter()

    # ---------------------------------------------------------------- browsers

    def join(self, full_tasks: int = FULL_TASKS) -> Listener:
        """A new browser's stream, starting with a snapshot consistent with what follows
        (with the tasks themselves while there are at most ``full_tasks``)."""
        if self._subscriber is None:
            self._start()
        self._catch_up()
        started = time.monotonic()
        listener = Listener()
        listener.put(sse("SUBSCRIBED", json.dumps(self.snapshot(min(full_tasks, FULL_TASKS)))))
        log.debug("a dashboard's snapshot took %.3f s", time.monotonic() - started)
        self.listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        if not self.listeners:
            self._stop()

    async def stream(self, listener: Listener) -> AsyncIterator[str]:
        try:
            async for text in listener.texts():
                yield text
        finally:
            self.leave(listener)

    def snapshot(self, full_tasks: int = FULL_TASKS) -> dict[str, Any]:
        """What a joining browser starts from (the feed is caught up: see ``join``)."""
        agents = snapshot.agents_view(self.m)
        frameworks = snapshot.frameworks_view(self.m)
        data: dict[str, Any] = {
            "agents": [agent_json(a) for a in agents.agents],
            "unreachable_agents": [to_json(a) for a in agents.unreachable_agents],
            "frameworks": [to_json(f) for f in frameworks.frameworks],
            "task_counts": {STATE_NAMES[s]: n for s, n in self.counts.items() if n},
            "tasks_total": len(self._active) + len(self._done),
        }
        if full_tasks and data["tasks_total"] <= full_tasks:  # 0: never
            state = snapshot.state_snapshot(self.m)
            data["tasks"] = [task_json(t) for t in state.tasks]
            data["completed_tasks"] = [task_json(t) for t in state.completed_tasks]
        return data

    # ---------------------------------------------------------------- the master's side

    def _start(self) -> None:
        # Subscribing and reading the state happen without an await between them, as in
        # the operator API's Subscribe: no change falls between the two.
        # The index is read from the master's records, not from a GetState answer: that
        # would build a protobuf of each of 100,000 tasks for their states alone.
        self._subscriber = self.m.events.subscribe(KEEPALIVE)
        self._active.clear()
        self._done.clear()
        self.counts.clear()
        for done in self.m.state.completed_tasks:
            self._record((done.framework_id, done.task_id), done.state)
        # 100,000 active tasks: one comprehension and a C-counted Counter, not a _record each.
        # (A framework's tables are keyed by task id: no TaskRecord property is read.)
        self._active = {
            (framework_id, task_id): task.latest_state
            for framework_id, framework in self.m.state.frameworks.items()
            for tasks in (framework.tasks, framework.unreachable_tasks)
            for task_id, task in tasks.items()
        }
        for key in self._active.keys() & self._done.keys():  # an id reused: the live one
            self.counts[self._done.pop(key)] -= 1
        self.counts.update(self._active.values())
        self._pump = asyncio.get_running_loop().create_task(self._run(), name="webui-feed")

    def _stop(self) -> None:
        if self._subscriber is not None:
            self.m.events.unsubscribe(self._subscriber)
            self._subscriber = None
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        self._active.clear()
        self._done.clear()
        self.counts.clear()

    async def close(self) -> None:
        for listener in list(self.listeners):
            listener.put(_END)
        pump = self._pump
        self._stop()
        if pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    def _catch_up(self) -> None:
        """Take every event already queued, so the feed is where the master is."""
        assert self._subscriber is not None
        queue = self._subscriber.queue
        while not queue.empty():
            self._take(queue.get_nowait())

    async def _run(self) -> None:
        assert self._subscriber is not None
        queue = self._subscriber.queue
        while True:
            event = await queue.get()
            self._take(event)
            if self._subscriber is None:
                return

    def _take(self, event: Event | None) -> None:
        if event is None:  # the feed fell too far behind: browsers start over
            log.warning("the dashboards' event feed fell behind; they reconnect")
            for listener in list(self.listeners):
                listener.put(_END)
            self.listeners.clear()
            self._stop()
            return
        text = self._encode(event)
        if text is not None:
            for listener in self.listeners:
                listener.put(text)

    def _count(self, task: pb.Task) -> int | None:
        """Record the task's state; the state it had before (None: new to the feed)."""
        return self._record((task.framework_id, task.task_id), task.state)

    def _record(self, key: tuple[str, str], state: int) -> int | None:
        before = self._active.pop(key, None)
        if before is None:
            before = self._done.pop(key, None)
        if before is not None:
            self.counts[before] -= 1
        self.counts[state] += 1
        if is_terminal(state):
            self._done[key] = state
            while len(self._done) > self.m.config.max_completed_tasks:
                _, dropped = self._done.popitem(last=False)
                self.counts[dropped] -= 1
        else:
            self._active[key] = state
        return before

    def _encode(self, event: Event) -> str | None:
        kind = event.type
        name = Event.Type.Name(kind)
        if kind in (Event.TASK_ADDED, Event.TASK_UPDATED):
            before = self._count(event.task)
            data: dict[str, Any]
            if kind == Event.TASK_UPDATED and before is not None:
                # The pages know the task (from its TASK_ADDED or their snapshot).
                data = {"task": task_update_json(event.task), "partial": True}
            else:
                data = {"task": task_json(event.task)}
            if before is not None:
                data["previous_state"] = STATE_NAMES[before]
        elif kind in (Event.AGENT_ADDED, Event.AGENT_UPDATED):
            data = {"agent": agent_json(event.agent)}
        elif kind in (Event.FRAMEWORK_ADDED, Event.FRAMEWORK_UPDATED):
            data = {"framework": to_json(event.framework)}
        elif kind in (Event.AGENT_REMOVED, Event.FRAMEWORK_REMOVED):
            data = to_json(event)
        else:
            return None
        return sse(name, json.dumps(data))
