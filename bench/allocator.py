"""Allocator benchmark in the shape of Mesos's DeclineOffers benchmark.

N agents of cpus:24;mem:4096 with 16 cpus already used (spread over the frameworks), and
M frameworks that decline every offer with refuse_seconds=1e9. Cycles run until every
framework has filtered every agent (a cycle makes no offer); the figures are the first
cycle, the slowest cycle on the way, the cycle that finds everything filtered, and one
more cycle after that (steady state).

    python bench/allocator.py            # the full grid: it makes N x M offers per point,
                                         # so 10k x 1k takes minutes, 20k x 2k far longer
    python bench/allocator.py --quick    # a small subset
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time

from mesospy.allocator import Allocator
from mesospy.resources import Resources

# Mesos C++ 1.8 (apache/mesos 1.7 performance blog) and our targets, seconds per cycle.
ANCHORS = {(10_000, 1_000): (1.1, 0.5), (20_000, 2_000): (3.8, 2.0)}
GRID = [(n, m) for n in (1_000, 10_000, 20_000) for m in (100, 1_000, 2_000)]
QUICK = [(1_000, 100), (2_000, 200), (10_000, 100)]


def machine() -> str:
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run(n_agents: int, n_frameworks: int) -> dict[str, float]:
    alloc = Allocator()
    frameworks = [f"fw-{i:05d}" for i in range(n_frameworks)]
    for fid in frameworks:
        alloc.add_framework(fid, ["*"])
    total, used = Resources.parse("cpus:24;mem:4096"), Resources.parse("cpus:16")
    for i in range(n_agents):
        alloc.add_agent(f"agent-{i:06d}", total, {(frameworks[i % n_frameworks], "*"): used})

    now, cycles, offers_total = 0.0, [], 0
    while True:
        start = time.perf_counter()
        offers = alloc.allocate(now)
        cycles.append(time.perf_counter() - start)
        offers_total += len(offers)
        if not offers:
            break
        for o in offers:  # every framework declines everything, for a very long time
            alloc.recover_resources(
                o.framework_id, o.agent_id, o.role, o.resources, refuse_seconds=1e9, now=now
            )
        now += 1.0
    start = time.perf_counter()
    alloc.allocate(now)
    steady = time.perf_counter() - start
    return {
        "first": cycles[0],
        "slowest": max(cycles[1:-1], default=0.0),
        "rounds": len(cycles) - 1,
        "filtered": cycles[-1],
        "steady": steady,
        "offers": offers_total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset of the grid")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"{'agents':>7} {'fws':>5} {'rounds':>6} {'offers':>9} {'first':>8} {'slowest':>8} "
        f"{'filtered':>9} {'steady':>8}  anchor"
    )
    for n, m in QUICK if args.quick else GRID:
        gc.collect()
        r = run(n, m)
        anchor = ""
        if (n, m) in ANCHORS:
            mesos, target = ANCHORS[n, m]
            # The brief's figures: the first cycle and the cycle once filters are in place.
            worst = max(r["first"], r["filtered"])
            verdict = "ok" if worst <= target else "MISSED"
            anchor = f"Mesos C++ 1.8 ~{mesos} s/cycle; target <= {target} s ({verdict})"
        print(
            f"{n:>7} {m:>5} {r['rounds']:>6.0f} {r['offers']:>9.0f} {r['first']:>7.3f}s "
            f"{r['slowest']:>7.3f}s {r['filtered']:>8.4f}s {r['steady']:>7.5f}s  {anchor}",
            flush=True,
        )


if __name__ == "__main__":
    main()
