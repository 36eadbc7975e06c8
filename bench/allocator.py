"""Allocator benchmark in the shape of Mesos's DeclineOffers benchmark.

N agents of cpus:24;mem:4096 with 16 cpus already used (spread over the frameworks), and
M frameworks that decline every offer with refuse_seconds=1e9. Cycles run until every
framework has filtered every agent (a cycle makes no offer); the figures are the first
cycle, the slowest (worst) cycle of the run, the cycle that finds everything filtered, and
one more cycle after that (steady state). Targets are judged on the worst cycle's CPU time
(the thread's own time, which other load on a shared machine does not inflate); its wall
time is printed beside it.

    python bench/allocator.py                      # a small grid, about a minute
    python bench/allocator.py --points 10000x1000  # one point of the grid
    python bench/allocator.py --full               # N x {1k,10k,20k} x M {100,1k,2k}: each
                                                   # point makes N x M offers, so the big
                                                   # points take many minutes
    python bench/allocator.py --quota              # the quota shape (below), 10k x 1k

The quota shape: the same agents and declining frameworks, in 100 roles (10 parents of 10
children each, `t3/r7`), run twice in one process: without quota, then with quota on half
of the roles (a guarantee of cpus:1800 and a limit of cpus:1900 each, against the 1600 cpus
each role's tasks use): stage 1 meets 50 guarantees, fair share keeps their headroom, and
half the roles are cut to their limits. Both runs stop after `--rounds` cycles (a full run
to every agent filtered by every framework is 1,000 cycles, minutes each), so the worst
cycle is of those rounds.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

from mesospy.allocator import Allocator, Quota
from mesospy.resources import Resources

# Mesos C++ 1.8 (apache/mesos 1.7 performance blog) and our targets, seconds per cycle.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

ANCHORS = {(10_000, 1_000): (1.1, 0.5), (20_000, 2_000): (3.8, 2.0)}
GRID = [(n, m) for n in (1_000, 10_000, 20_000) for m in (100, 1_000, 2_000)]
SMALL = [(1_000, 100), (2_000, 200), (10_000, 100)]


def role_of(i: int, n_roles: int) -> str:
    if n_roles == 1:
        return "*"
    k = i % n_roles
    return f"t{k // 10}/r{k % 10}"


def run(
    n_agents: int, n_frameworks: int, n_roles: int = 1, quota: bool = False, rounds: int = 0
) -> dict[str, float]:
    alloc = Allocator()
    frameworks = [(f"fw-{i:05d}", role_of(i, n_roles)) for i in range(n_frameworks)]
    for fid, role in frameworks:
        alloc.add_framework(fid, [role])
    total, used = Resources.parse("cpus:24;mem:4096"), Resources.parse("cpus:16")
    for i in range(n_agents):
        alloc.add_agent(f"agent-{i:06d}", total, {frameworks[i % n_frameworks]: used})
    if quota:  # half the roles: each holds 1,600 cpus of tasks (10k x 1k x 100 roles)
        for k in range(0, n_roles, 2):
            role = role_of(k, n_roles)
            alloc.update_quota(role, Quota({"cpus": 1800}, {"cpus": 1900}))

    now, cycles, walls, offers_total = 0.0, [], [], 0
    while not rounds or len(cycles) < rounds:
        start, cpu_start = time.perf_counter(), time.thread_time()
        offers = alloc.allocate(now)
        cycles.append(time.thread_time() - cpu_start)
        walls.append(time.perf_counter() - start)
        offers_total += len(offers)
        if not offers:
            break
        for o in offers:  # every framework declines everything, for a very long time
            alloc.recover_resources(
                o.framework_id, o.agent_id, o.role, o.resources, refuse_seconds=1e9, now=now
            )
        now += 1.0
    start = time.thread_time()
    alloc.allocate(now)
    steady = time.thread_time() - start
    return {
        "first": cycles[0],
        "median": statistics.median(cycles),
        "slowest": max(cycles),
        "slowest_wall": max(walls),
        "rounds": len(cycles) - (0 if offers else 1),
        "filtered": cycles[-1],
        "steady": steady,
        "offers": offers_total,
    }


def point(text: str) -> tuple[int, int]:
    n, _, m = text.lower().partition("x")
    return int(n), int(m)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the whole 3 x 3 grid (slow)")
    parser.add_argument(
        "--points", type=point, nargs="+", metavar="NxM", help="agents x frameworks points"
    )
    parser.add_argument("--quota", action="store_true", help="the quota shape (see above)")
    parser.add_argument("--rounds", type=int, default=30, help="cycles per run of --quota")
    args = parser.parse_args()
    if args.quota:
        sys.exit(quota_main(args.points or [(10_000, 1_000)], args.rounds))
    points = args.points or (GRID if args.full else SMALL)
    print(f"machine: {describe()}")
    print(
        f"{'agents':>7} {'fws':>5} {'rounds':>6} {'offers':>9} {'first':>8} {'worst':>8} "
        f"{'(wall)':>8} {'filtered':>9} {'steady':>8}  anchor   (cycle CPU times)"
    )
    results, missed = [], False
    for n, m in points:
        gc.collect()
        r = run(n, m)
        anchor = ""
        if (n, m) in ANCHORS:
            mesos, target = ANCHORS[n, m]
            ok = r["slowest"] <= target
            missed |= not ok
            verdict = "ok" if ok else "MISSED"
            anchor = f"Mesos C++ 1.8 ~{mesos} s/cycle; target worst <= {target} s ({verdict})"
        print(
            f"{n:>7} {m:>5} {r['rounds']:>6.0f} {r['offers']:>9.0f} {r['first']:>7.3f}s "
            f"{r['slowest']:>7.3f}s {r['slowest_wall']:>7.3f}s {r['filtered']:>8.4f}s "
            f"{r['steady']:>7.5f}s  {anchor}",
            flush=True,
        )
        if r["offers"] != n * m:  # every framework must be offered every agent exactly once
            print(f"WRONG: {r['offers']:.0f} offers, expected {n * m}", file=sys.stderr)
            missed = True
        results.append({"agents": n, "frameworks": m, **r})
    print(json.dumps({"bench": "allocator", "machine": describe(), "points": results}))
    sys.exit(1 if missed else 0)


def quota_main(points: list[tuple[int, int]], rounds: int) -> int:
    print(f"machine: {describe()}")
    print(
        f"{'agents':>7} {'fws':>5} {'roles':>5} {'quota':>6} {'rounds':>6} {'offers':>9} "
        f"{'first':>8} {'median':>8} {'worst':>8} {'(wall)':>8}  (cycle CPU times)"
    )
    results, missed = [], False
    for n, m in points:
        for quota in (False, True):
            gc.collect()
            r = run(n, m, n_roles=100, quota=quota, rounds=rounds)
            verdict = ""
            if quota and (n, m) == (10_000, 1_000):
                ok = r["slowest"] <= 0.5
                missed |= not ok
                verdict = f"target worst <= 0.5 s ({'ok' if ok else 'MISSED'})"
            print(
                f"{n:>7} {m:>5} {100:>5} {'half' if quota else 'none':>6} {r['rounds']:>6.0f} "
                f"{r['offers']:>9.0f} {r['first']:>7.3f}s {r['median']:>7.3f}s "
                f"{r['slowest']:>7.3f}s {r['slowest_wall']:>7.3f}s  {verdict}",
                flush=True,
            )
            results.append({"agents": n, "frameworks": m, "roles": 100, "quota": quota, **r})
    print(json.dumps({"bench": "allocator-quota", "machine": describe(), "points": results}))
    return 1 if missed else 0


if __name__ == "__main__":
    main()
