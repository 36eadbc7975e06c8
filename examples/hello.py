"""Hello, mesospy: run N tasks to completion, then exit.

    python examples/hello.py --tasks 10 --master 127.0.0.1:5050

Exits 0 if every task FINISHED, 1 otherwise. Walk-through: examples/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys

from mesospy.resources import Resources
from mesospy.scheduler import (
    MesospyError,
    Scheduler,
    SchedulerDriver,
    calls,
    how_many_fit,
    is_terminal,
    offer_resources,
    state_name,
    task,
)
from mesospy.v1 import common_pb2


class Hello(Scheduler):
    """Launches ``total`` copies of ``command``, packing each offer as full as it goes."""

    def __init__(self, total: int, command: str, per_task: Resources) -> None:
        self.total = total
        self.command = command
        self.per_task = per_task
        self.to_launch = [f"hello-{i}" for i in range(total)]
        self.outcomes: dict[str, str] = {}  # task id -> terminal state name

    def subscribed(
        self, driver: SchedulerDriver, framework_id: str, master_info: common_pb2.MasterInfo
    ) -> None:
        print(f"subscribed as framework {framework_id}")

    def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        for offer in offers:
            count = how_many_fit(offer_resources(offer), self.per_task, len(self.to_launch))
            ids, self.to_launch = self.to_launch[:count], self.to_launch[count:]
            # Unused resources come back after this long: soon while work is waiting.
            refuse = 5 if self.to_launch else 60
            if count == 0:
                driver.decline(offer.id, refuse_seconds=refuse)
                continue
            tasks = [task(i, self.command, self.per_task) for i in ids]
            # The filter applies to what is left of the offer after these tasks.
            driver.launch(offer.id, tasks, calls.refuse(refuse))
            print(f"launching {count} task(s) on {offer.hostname or offer.agent_id}")
        if not self.to_launch:
            driver.suppress()  # everything is launched: no more offers, please

    def status_update(self, driver: SchedulerDriver, status: common_pb2.TaskStatus) -> None:
        state = state_name(status.state)
        if not is_terminal(status.state) or status.task_id in self.outcomes:
            return  # not done yet, or a duplicate (updates arrive at least once)
        self.outcomes[status.task_id] = state
        detail = f" ({status.message})" if status.message else ""
        print(f"[{len(self.outcomes)}/{self.total}] {status.task_id} {state}{detail}")
        if len(self.outcomes) == self.total:
            driver.stop()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)

    def summary(self) -> tuple[bool, str]:
        finished = sum(state == "TASK_FINISHED" for state in self.outcomes.values())
        others = self.total - finished
        return others == 0, f"{finished}/{self.total} tasks finished, {others} did not"


async def run(driver: SchedulerDriver) -> None:
    # Ctrl-C or SIGTERM tears the framework down (its tasks are killed) and exits.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, driver.stop)
    await driver.run_async()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--master", help="host:port (default: $MESOSPY_MASTER, 127.0.0.1:5050)")
    parser.add_argument("--cmd", default="echo hello from $MESOS_TASK_ID")
    parser.add_argument("--cpus", type=float, default=0.1)
    parser.add_argument("--mem", type=float, default=32)
    args = parser.parse_args()

    hello = Hello(args.tasks, args.cmd, Resources({"cpus": args.cpus, "mem": args.mem}))
    framework = common_pb2.FrameworkInfo(name="hello", user=getpass.getuser(), failover_timeout=60)
    driver = SchedulerDriver(hello, framework, args.master)
    try:
        asyncio.run(run(driver))
    except MesospyError as exc:
        print(f"hello: {exc}", file=sys.stderr)
    ok, summary = hello.summary()
    print(summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
