"""Work items through one custom executor by framework messages, beside one task per item.

A master, one agent and the `examples/workers.py` framework (in this process): its one
task runs in its own Python executor, and N work items go to it by framework messages,
each result coming back by message (at most `--window` in flight). Figures: items/s from
the first item sent to the last result, and the latency of each item (sent -> result) at
p50/p99; then a run with a small window (`--latency-window`), for latency without
queueing. Beside them, in the same run, `throughput.py`'s one-task-per-item figure
(`--tasks` `true` tasks on a fresh cluster).

    python bench/executor.py                    # 10,000 items, 1,000 tasks

Exits non-zero unless every item came back right and the task finished.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import throughput
from machine import describe
from workers import WorkFeeder

from mesospy.cluster import LocalCluster
from mesospy.scheduler import SchedulerDriver
from mesospy.v1 import common_pb2

TARGET = 10_000.0  # items/s


async def feed(address: str, feeder: WorkFeeder, timeout: float) -> None:
    info = common_pb2.FrameworkInfo(name="bench-executor", user=getpass.getuser())
    driver = SchedulerDriver(feeder, info, address)
    runner = asyncio.ensure_future(driver.run_async())
    try:
        await asyncio.wait_for(asyncio.shield(runner), timeout)
    except TimeoutError:
        print(f"timed out after {timeout:g} s", file=sys.stderr)
        driver.stop()
        await asyncio.wait_for(runner, 10)


def run_items(items: int, window: int, work_dir: Path, timeout: float) -> dict[str, float]:
    feeder = WorkFeeder(items, window)
    with LocalCluster(agents=1, work_dir=work_dir, agent_resources="cpus:2;mem:2048") as cluster:
        asyncio.run(feed(cluster.master_address, feeder, timeout))
    figures = feeder.report()
    figures["window"] = window
    figures["ok"] = float(
        figures["items"] == items
        and not figures.get("wrong")
        and feeder.final_state == "TASK_FINISHED"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=2_000)
    parser.add_argument("--latency-items", type=int, default=2_000)
    parser.add_argument("--latency-window", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=1_000, help="for the one-task-per-item run")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    print(f"machine: {describe()}")
    root = Path(tempfile.mkdtemp(prefix="mesospy-bench-executor-"))
    bulk = run_items(args.items, args.window, root / "items", args.timeout)
    quiet = run_items(args.latency_items, args.latency_window, root / "latency", args.timeout)
    per_task = throughput.run_once(
        argparse.Namespace(
            tasks=args.tasks,
            agents=2,
            agent_resources="cpus:8;mem:8192",
            task_cpus=0.01,
            task_mem=4,
            isolation="auto",
            allocation_interval=1.0,
            timeout=args.timeout,
            py_spy=None,
        ),
        root / "tasks",
    )
    tasks_per_s = float(per_task["tasks_per_s"])
    for name, f in (("bulk", bulk), ("latency", quiet)):
        print(
            f"{name:>8}: {int(f['items']):>6} items, window {int(f['window']):>5}: "
            f"{f['items_per_s']:>9,.0f} items/s, p50 {f.get('p50_ms', 0):7.2f} ms, "
            f"p99 {f.get('p99_ms', 0):7.2f} ms, max {f.get('max_ms', 0):7.2f} ms"
        )
    print(
        f"one task per item: {int(per_task['finished'])}/{args.tasks} tasks, "
        f"{tasks_per_s:,.0f} tasks/s"
    )
    best = bulk["items_per_s"]
    print(
        f"executor messages {best:,.0f} items/s = {best / max(tasks_per_s, 1e-9):.1f}x one task "
        f"per item | target >= {TARGET:,.0f} items/s ({'ok' if best >= TARGET else 'MISSED'})"
    )
    ok = bool(bulk["ok"] and quiet["ok"])
    print(
        json.dumps(
            {
                "bench": "executor",
                "machine": describe(),
                "items": args.items,
                "items_per_s": best,
                "p99_ms_bulk": bulk.get("p99_ms"),
                "p99_ms_window": quiet.get("p99_ms"),
                "latency_window": args.latency_window,
                "items_per_s_latency_run": quiet["items_per_s"],
                "tasks_per_s": tasks_per_s,
                "target": TARGET,
                "correct": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
