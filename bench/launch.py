"""Launch and destroy: one agent starts N sleeping tasks, then they are all killed.

The figures: seconds from the first launch until every task is RUNNING, and from the
first kill until every task is KILLED (both as the framework sees them). Anchor: Mesos 1.7
took ~30 s to launch and ~20 s to destroy 1,000 containers.

    python bench/launch.py               # 1,000 tasks
    python bench/launch.py --tasks 300
    python bench/launch.py --image       # also 1,000 tasks from a cached container image

With ``--image`` the same run also launches the tasks from a busybox image (pushed to a
local docker-registry and pulled once by a warm-up task): each in its own mount and PID
namespaces on an overlay of the cached image. As pid 1 of its namespace, a task ignores a
SIGTERM it has no handler for (as in Docker), so the image tasks are a shell that traps
TERM around its ``sleep``; ``--no-image`` tasks are ``sleep 600``.

Beside the wall times, figures that depend less on the machine's load: the agent's CPU
per task (its process and its launcher helper, user + system, from the first launch to
the last kill) and the processes started per task (forks, from the kernel's count in
/proc/stat: other programs on the machine add to it).

Exits non-zero unless every task went RUNNING and then KILLED.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from machine import describe

from mesospy.cluster import LocalCluster
from mesospy.resources import Resources
from mesospy.scheduler import (
    Scheduler,
    SchedulerDriver,
    how_many_fit,
    is_terminal,
    offer_resources,
    state_name,
    task,
)
from mesospy.testing.registry import Registry, busybox_image
from mesospy.v1 import common_pb2

MESOS = {"launch": 30.0, "destroy": 20.0}  # seconds for 1,000 containers, Mesos 1.7
TARGET = 3.0
IMAGE_TARGET = 5.0
IMAGE_COMMAND = "trap 'exit 0' TERM; sleep 600 & wait"


class LaunchThenKill(Scheduler):
    """Launches `total` `sleep` tasks; once all run, kills them all."""

    def __init__(self, total: int, per_task: Resources, image: str | None = None) -> None:
        self.total = total
        self.per_task = per_task
        self.image = image
        self.command = IMAGE_COMMAND if image else "sleep 600"
        self.next_id = 0
        self.first_launch = self.all_running = self.first_kill = self.all_killed = 0.0
        self.running: set[str] = set()
        self.terminal: dict[str, str] = {}
        self.done = asyncio.Event()
        self.agent: psutil.Process | None = None
        self.cpu: dict[str, float] = {}
        self.forks: dict[str, int] = {}

    def sample(self, moment: str) -> None:
        """The agent's CPU seconds and the machine's fork count at ``moment``."""
        self.forks[moment] = forks_so_far()
        if self.agent is not None:
            self.cpu[moment] = agent_cpu(self.agent)

    def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        for offer in offers:
            count = how_many_fit(offer_resources(offer), self.per_task, self.total - self.next_id)
            if count == 0:
                driver.decline(offer.id, refuse_seconds=60)
                continue
            ids = range(self.next_id, self.next_id + count)
            self.next_id += count
            if not self.first_launch:
                self.sample("start")
                self.first_launch = time.perf_counter()
            driver.launch(
                offer.id,
                [task(f"s{i}", self.command, self.per_task, image=self.image) for i in ids],
            )
        if self.next_id >= self.total:
            driver.suppress()

    def status_update(self, driver: SchedulerDriver, status: common_pb2.TaskStatus) -> None:
        if status.state == common_pb2.TASK_RUNNING:
            self.running.add(status.task_id)
            if len(self.running) == self.total and not self.all_running:
                self.all_running = self.first_kill = time.perf_counter()
                self.sample("running")
                for i in range(self.total):
                    driver.kill(f"s{i}", status.agent_id)
        elif is_terminal(status.state) and status.task_id not in self.terminal:
            self.terminal[status.task_id] = state_name(status.state)
            if len(self.terminal) == self.total:
                self.all_killed = time.perf_counter()
                self.sample("killed")
                self.done.set()


def forks_so_far() -> int:
    """Processes the kernel has started since boot (every fork and clone)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("processes "):
                return int(line.split()[1])
    return 0


def agent_cpu(agent: psutil.Process) -> float:
    """CPU seconds of the agent and of its Python helper processes (not of its tasks)."""
    total = 0.0
    for proc in [agent, *agent.children()]:
        try:
            if proc is agent or "python" in proc.name():
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
    return total


async def drive(address: str, scheduler: LaunchThenKill, timeout: float) -> None:
    info = common_pb2.FrameworkInfo(name="bench-launch", user=getpass.getuser())
    driver = SchedulerDriver(scheduler, info, address)
    runner = asyncio.ensure_future(driver.run_async())
    try:
        await asyncio.wait_for(scheduler.done.wait(), timeout)
        await asyncio.sleep(0.2)  # the last acknowledgements
    except TimeoutError:
        print(f"timed out after {timeout:.0f} s", file=sys.stderr)
    finally:
        driver.stop()
        try:
            await asyncio.wait_for(runner, 10)
        except Exception as exc:
            print(f"driver did not stop cleanly: {exc!r}", file=sys.stderr)


def warm_up(master: str, image: str) -> None:
    """Pull the image onto the agent with one task, so the timed tasks find it cached."""
    ran = subprocess.run(
        [sys.executable, "-m", "mesospy", "run", "--master", master, "--image", image, "--",
         "true"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if ran.returncode != 0:
        raise SystemExit(f"the warm-up task from {image} failed: {ran.stderr.strip()}")


def run_once(args: argparse.Namespace, image: str | None) -> dict[str, float | int | str]:
    per_task = Resources({"cpus": args.task_cpus, "mem": args.task_mem})
    scheduler = LaunchThenKill(args.tasks, per_task, image)
    with LocalCluster(
        agents=1,
        agent_resources=args.agent_resources,
        agent_flags=["--isolation", args.isolation],
    ) as cluster:
        if image:
            warm_up(cluster.master_address, image)
        agent = cluster.agent_daemons[0].process
        assert agent is not None
        scheduler.agent = psutil.Process(agent.pid)
        asyncio.run(drive(cluster.master_address, scheduler, args.timeout))
    return _figures(scheduler)


def _figures(scheduler: LaunchThenKill) -> dict[str, float | int | str]:
    states = Counter(scheduler.terminal.values())
    cpu, forks, n = scheduler.cpu, scheduler.forks, max(scheduler.total, 1)

    def per_task(counts: dict[str, float] | dict[str, int], scale: float) -> float:
        if "killed" not in counts or "start" not in counts:
            return -1.0
        return (counts["killed"] - counts["start"]) * scale / n

    return {
        "agent_cpu_ms": per_task(cpu, 1000.0),
        "forks": per_task(forks, 1.0),
        "launch_s": scheduler.all_running - scheduler.first_launch if scheduler.all_running else -1,
        "destroy_s": scheduler.all_killed - scheduler.first_kill if scheduler.all_killed else -1,
        "running": len(scheduler.running),
        "killed": states.get("TASK_KILLED", 0),
        "states": json.dumps(dict(states)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat; best and spread shown")
    parser.add_argument("--agent-resources", default="cpus:32;mem:65536")
    parser.add_argument("--task-cpus", type=float, default=0.01)
    parser.add_argument("--task-mem", type=float, default=16)
    parser.add_argument("--isolation", default="auto", choices=["auto", "cgroups", "posix"])
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--image",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also run the tasks from a cached container image (--no-image: only without)",
    )
    args = parser.parse_args()

    print(f"machine: {describe()}")
    failed = report(args, None)
    if args.image:
        with (
            tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp,
            Registry(Path(tmp)) as registry,
        ):
            registry.push("bench/busybox", "1", busybox_image(os_id="bench"))
            failed |= report(args, f"{registry.host}/bench/busybox:1")
    return failed


def report(args: argparse.Namespace, image: str | None) -> int:
    """Run and print one mode (from ``image``, or without one); 1 if any run went wrong."""
    mode = "image" if image else "no-image"
    target = IMAGE_TARGET if image else TARGET
    print(f"--- {mode}: {args.tasks} tasks" + (f" from {image} (cached)" if image else ""))
    runs = []
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        runs.append(run_once(args, image) | {"load": load})
    print(
        f"{'run':>3} {'tasks':>6} {'running':>7} {'killed':>6} {'launch s':>9} {'destroy s':>9}"
        f" {'agent CPU ms/task':>17} {'forks/task':>10} {'load':>5}"
    )
    for i, r in enumerate(runs):
        print(
            f"{i:>3} {args.tasks:>6} {r['running']:>7} {r['killed']:>6} "
            f"{float(r['launch_s']):>9.2f} {float(r['destroy_s']):>9.2f}"
            f" {float(r['agent_cpu_ms']):>17.2f} {float(r['forks']):>10.1f}"
            f" {float(r['load']):>5.1f}"
        )
    wrong = [r for r in runs if r["running"] != args.tasks or r["killed"] != args.tasks]
    good = [r for r in runs if r not in wrong] or runs
    figures: dict[str, object] = {
        "bench": "launch",
        "mode": mode,
        "machine": describe(),
        "tasks": args.tasks,
    }
    for what in ("launch", "destroy"):
        values = [float(r[f"{what}_s"]) for r in good]
        best = min(values)
        verdict = "ok" if 0 <= best <= target else "MISSED"
        print(
            f"{what:>7}: {best:.2f} s (best of {len(values)}, spread {best:.2f}-{max(values):.2f})"
            f" | anchor Mesos 1.7 ~{MESOS[what]:.0f} s for 1,000 | target <= {target:.0f} s"
            f" ({verdict})"
        )
        figures[f"{what}_s_best"], figures[f"{what}_s_all"] = best, values
    for what in ("agent_cpu_ms", "forks", "load"):
        figures[what] = [r[what] for r in good]
    for r in wrong:
        print(
            f"WRONG: {r['running']} of {args.tasks} seen RUNNING, terminal states {r['states']}",
            file=sys.stderr,
        )
    figures["correct"] = not wrong
    print(json.dumps(figures))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
