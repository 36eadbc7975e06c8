"""A recording framework that runs in a background thread, for tests."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Iterable

from mesospy.resources import Resources
from mesospy.scheduler import Scheduler, SchedulerDriver, is_terminal, offer_resources
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb


class TaskQueueScheduler(Scheduler):
    """Launches queued tasks on offers as they fit (first come, first served) and records
    every offer, status update and error it sees."""

    def __init__(
        self,
        refuse_seconds: float = 0.5,
        hold_offers: bool = False,
        max_per_offer: int = 0,
        relaunch_lost: bool = False,
    ) -> None:
        self.refuse_seconds = refuse_seconds
        self.max_per_offer = max_per_offer  # 0: as many as fit
        # Keep offers unanswered (a test answers them itself through the driver).
        self.hold_offers = hold_offers
        self.queue: collections.deque[pb.TaskInfo] = collections.deque()
        self.offers_seen: list[pb.Offer] = []
        self.launched: list[pb.TaskInfo] = []
        self.statuses: list[pb.TaskStatus] = []
        self.errors: list[str] = []
        self.rescinds: list[str] = []
        self.subscriptions = 0
        # Framework messages (executor id, agent id, data) and FAILURE events (agent id,
        # executor id, exit status) in the order they came.
        self.messages: list[tuple[str, str, bytes]] = []
        self.failures: list[tuple[str, str, int | None]] = []
        self.relaunched: list[str] = []
        # Launch again tasks the master reports as never started (lost with a failover).
        self.relaunch_lost = relaunch_lost
        self.framework_id = ""
        self.changed = threading.Condition()

    def _record(self, action: Callable[[], None]) -> None:
        with self.changed:
            action()
            self.changed.notify_all()

    def subscribed(
        self, driver: SchedulerDriver, framework_id: str, master_info: pb.MasterInfo
    ) -> None:
        with self.changed:
            resubscribed = bool(self.framework_id)
            self.framework_id = framework_id
            self.subscriptions += 1
            self.changed.notify_all()
        if resubscribed:
            # After a failover, ask about every launched task that has not ended: a launch
            # may have died with the old master (it answers TASK_LOST or TASK_UNKNOWN).
            driver.reconcile([(t.task_id, t.agent_id) for t in self.unfinished()])

    def unfinished(self) -> list[pb.TaskInfo]:
        """Launched tasks without a terminal update yet."""
        with self.changed:
            ended = {s.task_id for s in self.statuses if is_terminal(s.state)}
            return [t for t in self.launched if t.task_id not in ended]

    def offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> None:
        with self.changed:
            self.offers_seen.extend(offers)
            for offer in [] if self.hold_offers else offers:
                available = offer_resources(offer)
                batch: list[pb.TaskInfo] = []
                while self.queue and (not self.max_per_offer or len(batch) < self.max_per_offer):
                    needs = Resources.from_proto(self.queue[0].resources)
                    if not available.contains(needs):
                        break
                    available = available - needs
                    batch.append(self.queue.popleft())
                for info in batch:
                    info.agent_id = offer.agent_id
                if batch:
                    driver.launch(
                        offer.id, batch, filters=pb.Filters(refuse_seconds=self.refuse_seconds)
                    )
                    self.launched.extend(batch)
                else:
                    driver.decline(offer.id, refuse_seconds=self.refuse_seconds)
            self.changed.notify_all()

    def status_update(self, driver: SchedulerDriver, status: pb.TaskStatus) -> None:
        with self.changed:
            # A reconciliation answer may come after the task's real end (the master has
            # forgotten an acknowledged task: TASK_UNKNOWN); such a task is not relaunched.
            ended = any(s.task_id == status.task_id and is_terminal(s.state) for s in self.statuses)
            self.statuses.append(status)
            never_ran = not ended and status.state in (
                pb.TASK_LOST,
                pb.TASK_UNKNOWN,
                pb.TASK_DROPPED,
            )
            # TASK_DROPPED never started, whoever reports it (also an agent that restarted
            # between taking the launch and starting it); LOST/UNKNOWN only from the master.
            from_master = status.source == pb.TaskStatus.SOURCE_MASTER
            relaunch = never_ran and (from_master or status.state == pb.TASK_DROPPED)
            if self.relaunch_lost and relaunch:
                info = next((t for t in self.launched if t.task_id == status.task_id), None)
                if info is not None:
                    self.launched.remove(info)
                    self.queue.append(info)
                    self.relaunched.append(info.task_id)
                    driver.revive()
            self.changed.notify_all()

    def framework_message(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, data: bytes
    ) -> None:
        self._record(lambda: self.messages.append((executor_id, agent_id, data)))

    def failure(
        self, driver: SchedulerDriver, agent_id: str, executor_id: str, status: int | None
    ) -> None:
        self._record(lambda: self.failures.append((agent_id, executor_id, status)))

    def rescinded(self, driver: SchedulerDriver, offer_id: str) -> None:
        self._record(lambda: self.rescinds.append(offer_id))

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self._record(lambda: self.errors.append(message))


class FrameworkHarness:
    """Runs a scheduler with a ``SchedulerDriver`` on its own thread and event loop."""

    def __init__(
        self,
        master: str,
        scheduler: Scheduler | None = None,
        *,
        name: str = "test-framework",
        roles: Iterable[str] = (),
        capabilities: Iterable[int] = (),
        failover_timeout: float = 0.0,
        principal: str = "",
        **driver_options: object,
    ) -> None:
        self.scheduler = scheduler or TaskQueueScheduler()
        info = pb.FrameworkInfo(
            name=name,
            roles=list(roles),
            failover_timeout=failover_timeout,
            capabilities=list(capabilities),  # type: ignore[arg-type]
            principal=principal,
        )
        self.driver = SchedulerDriver(
            self.scheduler,
            info,
            master,
            **driver_options,  # type: ignore[arg-type]
        )
        self.result: int | BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name=f"framework-{name}", daemon=True)

    def _main(self) -> None:
        async def run() -> int:
            self._loop = asyncio.get_running_loop()
            return await self.driver.run_async()

        try:
            self.result = asyncio.run(run())
        except BaseException as exc:  # reported to the test through `result`
            self.result = exc

    def call(self, call: spb.Call, timeout: float = 15.0) -> None:
        """Send ``call`` through the driver and wait for the master's answer; raises the
        SDK's error (``InvalidCall``, ``NotFound``...) when it refuses it."""
        self.wait(lambda: self._loop is not None, timeout, "the driver to start")
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self.driver.call(call), self._loop)
        future.result(timeout)

    def start(self) -> FrameworkHarness:
        self._thread.start()
        return self

    def stop(self, failover: bool = False, timeout: float = 15.0) -> None:
        self.driver.stop(failover=failover)
        self._thread.join(timeout)

    def __enter__(self) -> FrameworkHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def tasks(self) -> TaskQueueScheduler:
        assert isinstance(self.scheduler, TaskQueueScheduler)
        return self.scheduler

    def submit(self, tasks: Iterable[pb.TaskInfo]) -> None:
        """Queue tasks; they launch on the next offers that fit."""
        with self.tasks.changed:
            self.tasks.queue.extend(tasks)
        self.driver.revive()

    def wait(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
        """Block until ``predicate()`` holds (re-checked on every event), or fail."""
        condition = getattr(self.scheduler, "changed", None)
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
            if not self._thread.is_alive():
                raise RuntimeError(f"the framework stopped: {self.result!r}")
            if isinstance(condition, threading.Condition):
                with condition:
                    condition.wait(min(remaining, 0.5))
            else:
                time.sleep(min(remaining, 0.05))

    def latest_states(self) -> dict[str, int]:
        """Each task's newest state, by task id. A reconciliation answer does not undo a
        terminal state already seen: it can come after the task's real end (asked while
        the end was on its way; the master then no longer knows the task: TASK_UNKNOWN)."""
        latest: dict[str, int] = {}
        with self.tasks.changed:
            for s in self.tasks.statuses:
                ended = s.task_id in latest and is_terminal(latest[s.task_id])
                if not (ended and s.reason == pb.TaskStatus.REASON_RECONCILIATION):
                    latest[s.task_id] = s.state
        return latest
