"""Task throughput: a master, 2 agents and 1 framework launching N `true` tasks.

The framework (an in-process SDK driver) launches tasks as fast as offers allow, packing
each offer full; the figure is tasks/s from the first launch to the last acknowledgement
(the framework receives the last terminal update and its driver acknowledges it). Beside
it, the anchor measured in the same run: the raw rate at which Python's subprocess spawns
and reaps `sh -c true` on this machine.

    python bench/throughput.py                 # 2,000 tasks
    python bench/throughput.py --tasks 5000

Exits non-zero unless every task ends TASK_FINISHED, and only once.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from machine import describe, file_system, py_spy, spawn_rate

from mesospy.cluster import Daemon, LocalCluster
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
from mesospy.v1 import common_pb2

TARGET = 1_000.0  # tasks/s
TARGET_SHARE = 0.40  # of the raw spawn+reap rate measured in the same run


class Flood(Scheduler):
    """Launches `total` copies of `true`, as many per offer as fit."""

    def __init__(self, total: int, per_task: Resources) -> None:
        self.total = total
        self.per_task = per_task
        self.next_id = 0
        self.first_launch = 0.0
        self.last_terminal = 0.0
        self.terminal: dict[str, str] = {}
        self.deliveries: Counter[str] = Counter()  # terminal updates seen, per task
        self.done = asyncio.Event()

    def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        for offer in offers:
            left = self.total - self.next_id
            count = how_many_fit(offer_resources(offer), self.per_task, left)
            if count == 0:
                driver.decline(offer.id, refuse_seconds=60 if not left else 0.01)
                continue
            first = self.next_id
            self.next_id += count
            tasks = [task(f"t{i}", "true", self.per_task) for i in range(first, first + count)]
            if not self.first_launch:
                self.first_launch = time.perf_counter()
            driver.launch(offer.id, tasks)
        if self.next_id >= self.total:
            driver.suppress()

    def status_update(self, driver: SchedulerDriver, status: common_pb2.TaskStatus) -> None:
        if not is_terminal(status.state):
            return
        self.deliveries[status.task_id] += 1
        if status.task_id in self.terminal:
            return
        self.terminal[status.task_id] = state_name(status.state)
        if len(self.terminal) == self.total:
            self.last_terminal = time.perf_counter()
            self.done.set()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        print(f"framework error: {message}", file=sys.stderr)


async def drive(address: str, flood: Flood, timeout: float) -> None:
    info = common_pb2.FrameworkInfo(name="bench-throughput", user=getpass.getuser())
    driver = SchedulerDriver(flood, info, address)
    runner = asyncio.ensure_future(driver.run_async())
    try:
        await asyncio.wait_for(flood.done.wait(), timeout)
        await asyncio.sleep(0.2)  # let the driver send the last coalesced acknowledgements
    except TimeoutError:
        pass
    finally:
        driver.stop()
        try:
            await asyncio.wait_for(runner, 10)
        except (TimeoutError, Exception) as exc:  # report, but the figures still count
            print(f"driver did not stop cleanly: {exc!r}", file=sys.stderr)


def cluster_daemons(cluster: LocalCluster) -> list[Daemon]:
    return [d for d in [cluster.master, *cluster.agent_daemons] if d and d.process]


def cpu_seconds(cluster: LocalCluster) -> dict[str, float]:
    """CPU seconds used so far by the master, the agents, their reaped children (the
    tasks) and this process (the framework)."""
    out = {"master": 0.0, "agents": 0.0, "tasks": 0.0, "framework": 0.0}
    for d in cluster_daemons(cluster):
        t = psutil.Process(d.process.pid).cpu_times()  # type: ignore[union-attr]
        out["master" if d is cluster.master else "agents"] += t.user + t.system
        out["tasks"] += t.children_user + t.children_system
    t = psutil.Process().cpu_times()
    out["framework"] = t.user + t.system
    return out


def profile(cluster: LocalCluster, out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on the master and every agent while the framework runs."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        py_spy(d.process.pid, str(out / f"{d.name}.raw"))  # type: ignore[union-attr]
        for d in cluster_daemons(cluster)
    ]


def run_once(args: argparse.Namespace, work_dir: Path) -> dict[str, float | int | str]:
    per_task = Resources({"cpus": args.task_cpus, "mem": args.task_mem})
    flood = Flood(args.tasks, per_task)
    agent_flags = ["--isolation", args.isolation]
    master_flags = ["--allocation-interval", str(args.allocation_interval)]
    with LocalCluster(
        agents=args.agents,
        work_dir=work_dir,
        agent_resources=args.agent_resources,
        agent_flags=agent_flags,
        master_flags=master_flags,
    ) as cluster:
        profilers = profile(cluster, args.py_spy) if args.py_spy else []
        before = cpu_seconds(cluster)
        asyncio.run(drive(cluster.master_address, flood, args.timeout))
        cpu = {k: v - before[k] for k, v in cpu_seconds(cluster).items()}
        for p in profilers:
            p.send_signal(2)  # SIGINT: py-spy writes its profile and exits
            p.wait(30)
    finished = sum(1 for s in flood.terminal.values() if s == "TASK_FINISHED")
    others = Counter(s for s in flood.terminal.values() if s != "TASK_FINISHED")
    duplicates = sum(n - 1 for n in flood.deliveries.values())
    elapsed = (flood.last_terminal or time.perf_counter()) - flood.first_launch
    return {
        "tasks": args.tasks,
        "finished": finished,
        "not_finished": args.tasks - finished,
        "other_states": json.dumps(dict(others)),
        "duplicate_deliveries": duplicates,
        "seconds": elapsed,
        "tasks_per_s": finished / elapsed if elapsed > 0 else 0.0,
        **{f"cpu_ms_per_task_{k}": 1000 * v / max(1, args.tasks) for k, v in cpu.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat; best and spread shown")
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--agent-resources", default="cpus:8;mem:8192")
    parser.add_argument("--task-cpus", type=float, default=0.01)
    parser.add_argument("--task-mem", type=float, default=4)
    parser.add_argument("--isolation", default="auto", choices=["auto", "cgroups", "posix"])
    parser.add_argument("--allocation-interval", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--py-spy", type=Path, help="profile master and agents into this dir")
    parser.add_argument(
        "--work-dir",
        help="where the agents keep their sandboxes (default: the temp dir, $TMPDIR); "
        "the file system matters: see bench/README.md",
    )
    args = parser.parse_args()

    if args.work_dir:
        tempfile.tempdir = args.work_dir  # the runs' directory is made there
    work_dir = tempfile.gettempdir()
    print(f"machine: {describe()}")
    print(f"agents' work dir: {work_dir}: {file_system(work_dir)}")
    raw_before = spawn_rate()
    # Every run gets a fresh directory, and all are removed only at the end: on ext4
    # without a journal, making inodes right after deleting many is several times slower
    # (bench/README.md), so removing one run's sandboxes would slow the next.
    root = Path(tempfile.mkdtemp(prefix="mesospy-throughput-"))
    try:
        runs = [run_once(args, root / f"run-{i}") for i in range(args.runs)]
        raw_after = spawn_rate()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    raw = max(raw_before, raw_after)
    rates = [float(r["tasks_per_s"]) for r in runs]
    best = max(rates)
    print(
        f"{'run':>3} {'tasks':>6} {'finished':>8} {'dups':>5} {'seconds':>8} {'tasks/s':>8}"
        "   CPU ms/task: master agents tasks framework"
    )
    for i, r in enumerate(runs):
        print(
            f"{i:>3} {r['tasks']:>6} {r['finished']:>8} {r['duplicate_deliveries']:>5} "
            f"{float(r['seconds']):>8.2f} {float(r['tasks_per_s']):>8.0f}"
            f"                {float(r['cpu_ms_per_task_master']):>6.2f} "
            f"{float(r['cpu_ms_per_task_agents']):>6.2f} {float(r['cpu_ms_per_task_tasks']):>5.2f} "
            f"{float(r['cpu_ms_per_task_framework']):>9.2f}"
        )
    print(
        f"mesospy {best:,.0f} tasks/s (best of {len(rates)}, spread {min(rates):,.0f}-{best:,.0f})"
        f" | anchor: raw spawn+reap `sh -c true` {raw:,.0f}/s ({raw_before:,.0f} before, "
        f"{raw_after:,.0f} after) | mesospy/raw {best / raw:.0%} | target >= {TARGET:,.0f}/s "
        f"({'ok' if best >= TARGET else 'MISSED'}), i.e. >= {TARGET_SHARE:.0%} of raw "
        f"({'ok' if best >= TARGET_SHARE * raw else 'MISSED'})"
    )
    wrong = [r for r in runs if r["not_finished"] or r["other_states"] != "{}"]
    for r in wrong:
        print(
            f"WRONG: {r['not_finished']} of {r['tasks']} tasks did not finish; "
            f"other terminal states {r['other_states']}",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "bench": "throughput",
                "machine": describe(),
                "tasks": args.tasks,
                "tasks_per_s_best": best,
                "tasks_per_s_all": rates,
                "raw_spawn_per_s": raw,
                "share_of_raw": best / raw,
                "work_dir_file_system": file_system(work_dir),
                "target": TARGET,
                "correct": not wrong,
            }
        )
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
