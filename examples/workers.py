"""Why frameworks bring executors: many small work items in one long-lived process.

One task launch costs the cluster a process, a sandbox and several status updates
(milliseconds); a framework message to an executor that is already running costs tens
of microseconds. This framework launches one task run by its own Python executor (this
same file, started by the agent with ``--executor``), then feeds it work items by framework
messages and gets each result back by message:

    mesospy local --once -- python examples/workers.py --items 10000

Each work item is ``<id>:<text>``; the executor answers ``<id>:<sha256 of text>``. The
scheduler keeps at most ``--window`` items in flight, prints items/s and latency
percentiles, and ends the task by sending ``stop`` (the executor reports TASK_FINISHED and
exits). Exits non-zero unless every item came back right.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import sys
import time
from pathlib import Path

import mesospy
from mesospy.executor import Executor, ExecutorDriver
from mesospy.resources import Resources
from mesospy.scheduler import (
    Scheduler,
    SchedulerDriver,
    executor,
    executor_task,
    is_terminal,
    offer_resources,
    state_name,
)
from mesospy.v1 import common_pb2 as pb

TASK_ID = "workers"
EXECUTOR_ID = "workers-executor"
TASK_RESOURCES = "cpus:0.1;mem:32"
EXECUTOR_RESOURCES = "cpus:0.1;mem:64"


def answer(text: bytes) -> bytes:
    return hashlib.sha256(text).hexdigest()[:16].encode()


# ---------------------------------------------------------------------- the executor


class WorkExecutor(Executor):
    """Runs work items as they come, in this one process, and sends each result back."""

    def __init__(self) -> None:
        self.task_id = ""

    def launch_task(self, driver: ExecutorDriver, task: pb.TaskInfo) -> None:
        self.task_id = task.task_id
        driver.send_status_update(task.task_id, pb.TASK_RUNNING, "ready for work items")

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None:
        if data == b"stop":
            driver.send_status_update(self.task_id, pb.TASK_FINISHED, "stopped by the scheduler")
            driver.stop()
            return
        item_id, _, text = data.partition(b":")
        driver.send_framework_message(item_id + b":" + answer(text))

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        driver.send_status_update(task_id, pb.TASK_KILLED, "killed")
        driver.stop()

    def shutdown(self, driver: ExecutorDriver) -> None:
        if self.task_id:
            driver.send_status_update(self.task_id, pb.TASK_KILLED, "executor shut down")


# ---------------------------------------------------------------------- the scheduler


def executor_info() -> pb.ExecutorInfo:
    """This file, run with --executor by the agent (with this mesospy on its path)."""
    here = Path(__file__).resolve()
    root = Path(mesospy.__file__).resolve().parents[1]
    return executor(
        EXECUTOR_ID,
        [sys.executable, str(here), "--executor"],
        EXECUTOR_RESOURCES,
        env={"PYTHONPATH": str(root)},
    )


class WorkFeeder(Scheduler):
    """Launches the executor's one task, then streams work items to it by messages."""

    def __init__(self, items: int, window: int) -> None:
        self.items = items
        self.window = window
        self.launched = False
        self.agent_id = ""
        self.next_item = 0
        self.sent_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.wrong = 0
        self.started = 0.0
        self.finished = 0.0
        self.final_state = ""

    def offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> None:
        needs = Resources.parse(TASK_RESOURCES) + Resources.parse(EXECUTOR_RESOURCES)
        for offer in offers:
            if self.launched or not offer_resources(offer).contains(needs):
                driver.decline(offer.id, refuse_seconds=60 if self.launched else 1)
                continue
            self.launched = True
            driver.launch(offer.id, [executor_task(TASK_ID, executor_info(), TASK_RESOURCES)])
            driver.suppress()

    def status_update(self, driver: SchedulerDriver, status: pb.TaskStatus) -> None:
        if status.state == pb.TASK_RUNNING and not self.agent_id:
            self.agent_id = status.agent_id
            self.started = time.perf_counter()
            self.feed(driver)
        elif is_terminal(status.state):
            self.final_state = state_name(status.state)
            if status.state != pb.TASK_FINISHED:
                print(f"task {status.task_id}: {self.final_state}: {status.message}")
            driver.stop()

    def feed(self, driver: SchedulerDriver) -> None:
        now = time.perf_counter()
        while len(self.sent_at) < self.window and self.next_item < self.items:
            item = self.next_item
            self.next_item += 1
            self.sent_at[item] = now
            data = f"{item}:item-{item}".encode()
            driver.send_framework_message(EXECUTOR_ID, self.agent_id, data)

    def framework_message(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, data: bytes
    ) -> None:
        item_id, _, result = data.partition(b":")
        item = int(item_id)
        sent = self.sent_at.pop(item, None)
        if sent is None:
            return  # a duplicate
        self.latencies.append(time.perf_counter() - sent)
        if result != answer(f"item-{item}".encode()):
            self.wrong += 1
        if len(self.latencies) == self.items:
            self.finished = time.perf_counter()
            driver.send_framework_message(EXECUTOR_ID, self.agent_id, b"stop")
        else:
            self.feed(driver)

    def error(self, driver: SchedulerDriver, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)

    def report(self) -> dict[str, float]:
        """items/s and latency percentiles (ms) of the items that came back."""
        done = sorted(self.latencies)
        elapsed = (self.finished or time.perf_counter()) - self.started
        if not done:
            return {"items": 0, "items_per_s": 0.0}

        def pct(p: float) -> float:
            return 1000 * done[min(len(done) - 1, int(p * len(done)))]

        return {
            "items": len(done),
            "wrong": self.wrong,
            "seconds": elapsed,
            "items_per_s": len(done) / elapsed if elapsed > 0 else 0.0,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": 1000 * done[-1],
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--executor", action="store_true", help="run as the executor")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=2_000, help="items in flight at most")
    parser.add_argument("--master", help="host:port (default: $MESOSPY_MASTER)")
    args = parser.parse_args()
    if args.executor:
        return ExecutorDriver(WorkExecutor()).run()
    feeder = WorkFeeder(args.items, args.window)
    info = pb.FrameworkInfo(name="workers", user=getpass.getuser())
    SchedulerDriver(feeder, info, args.master).run()
    figures = feeder.report()
    print(
        f"{figures['items']}/{args.items} items, {figures.get('wrong', 0)} wrong, "
        f"{figures['items_per_s']:,.0f} items/s, p50 {figures.get('p50_ms', 0):.1f} ms, "
        f"p99 {figures.get('p99_ms', 0):.1f} ms; task {feeder.final_state or 'not ended'}"
    )
    ok = figures["items"] == args.items and not figures.get("wrong")
    return 0 if ok and feeder.final_state == "TASK_FINISHED" else 1


if __name__ == "__main__":
    sys.exit(main())
