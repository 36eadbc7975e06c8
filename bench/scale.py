"""Scale: one master, many simulated agents heartbeating, many frameworks churning tasks.

One real master process; ``--agents`` simulated agents (``sim_agents.py``, up to 5,000 per
process, the real agent protocol) with ``--agent-resources`` each; ``--frameworks`` lean
frameworks (``sim_frameworks.py``, the real scheduler protocol, all in this process) with
a backlog that never runs out: every offer is filled with ``sleep`` tasks of
``--task-resources`` lasting ``--task-seconds`` (+-50 %), so the cluster stays full and
tasks finish and are replaced at (agents x slots / task seconds) per second.

Once every slot has been filled and ``--warmup`` seconds passed (by default the longest
task's time, so the first wave has ended and the churn is steady), a window of
``--measure`` seconds gives:

- master CPU: CPU seconds of the master process (psutil, user + system) / wall seconds,
  as % of one core;
- offer latency: for every task that finished in the window, the time from the agent
  sending TASK_FINISHED (its timestamp; the resources are free from then) to the first
  offer of that agent's resources reaching any framework (wall clocks of one machine);
  freeings never re-offered by the end count with the time they waited;
- master RSS at the end of the window.

Before the frameworks come, ``--idle-measure`` seconds of the agents alone give the
master's CPU for heartbeats only.

    python bench/scale.py                                  # 1,000 agents, 10 frameworks
    python bench/scale.py --agents 10000 --frameworks 100 --measure 60

Exits non-zero on a wrong result: a task ending other than FINISHED (lost), an agent
asked to run more than it has (an offer double-booked), an offer id seen twice, or an
agent that never registered.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from fleet import (
    CpuMeter,
    Fleet,
    load,
    percentile,
    raise_fd_limit,
    start_master,
    tear_down,
    wait_serving,
)
from machine import describe, report
from sim_frameworks import ChannelPool, LeanFramework, Record

from mesospy.detector import MasterDetector
from mesospy.resources import Resources

ANCHOR = "Mesos: 35,000 agents in production (one master)"
CPU_TARGET = 50.0  # % of one core
LATENCY_TARGET = 1.0  # s, p99


async def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    raise_fd_limit()
    flags = [
        "--agent-ping-timeout",
        str(args.heartbeat),
        "--allocation-interval",
        str(args.allocation_interval),
        "--log-level",
        args.master_log_level,
    ]
    master = start_master(work, "master", flags)
    fleet: Fleet | None = None
    frameworks: list[asyncio.Task[None]] = []
    pools: list[ChannelPool] = []
    leader: MasterDetector | None = None
    try:
        await asyncio.to_thread(wait_serving, master)
        meter = CpuMeter(master.process.pid)  # type: ignore[union-attr]
        address = f"127.0.0.1:{master.port}"
        fleet = Fleet(
            address, args.agents, args.agent_resources, work, extra=["--task-seconds", "60"]
        )
        t0 = time.time()
        await fleet.start()
        registered_at = await fleet.wait(
            f"{args.agents} agents to register",
            lambda: fleet is not None and fleet.registered() >= args.agents,
            args.timeout,
        )
        registration_s = registered_at - t0
        print(f"{args.agents} agents registered in {registration_s:.1f} s ({load()})")

        # Agents alone: what heartbeats cost the master, before any framework comes.
        await asyncio.sleep(args.heartbeat)  # every agent is into its heartbeat rhythm
        idle_start, idle_cpu0, idle_hb0 = time.time(), meter.cpu(), fleet.total("heartbeats")
        await asyncio.sleep(args.idle_measure)
        idle_window = time.time() - idle_start
        idle_cpu = 100 * (meter.cpu() - idle_cpu0) / idle_window
        idle_heartbeats = (fleet.total("heartbeats") - idle_hb0) / idle_window
        print(
            f"agents alone: master {idle_cpu:.0f} % of a core at {idle_heartbeats:,.0f} "
            f"heartbeats/s ({load()})"
        )

        record = Record()
        leader = MasterDetector(address)
        per_task = Resources.parse(args.task_resources)
        mean = args.task_seconds
        slots = int(Resources.parse(args.agent_resources).scalar("cpus") // per_task.scalar("cpus"))
        capacity = slots * args.agents
        for i in range(args.frameworks):
            pools.append(ChannelPool("", leader))
            framework = LeanFramework(
                f"fw{i}",
                pools[-1],
                record,
                per_task,
                lambda: random.uniform(0.5 * mean, 1.5 * mean),
                None,
                args.refuse_seconds,
            )
            frameworks.append(asyncio.ensure_future(framework.run()))
        t1 = time.time()
        await fleet.wait(
            f"{capacity} slots to fill",
            lambda: record.launched >= capacity,
            args.timeout,
        )
        print(f"{capacity} slots filled in {time.time() - t1:.1f} s ({load()})")
        await asyncio.sleep(args.warmup)

        start, cpu0 = time.time(), meter.cpu()
        hb0, fin0, off0 = fleet.total("heartbeats"), record.finished, len(record.offer_ids)
        upd0 = fleet.total("update_rpcs")
        load_before = load()
        samples: list[float] = []
        while time.time() < start + args.measure:
            c, t = meter.cpu(), time.time()
            await asyncio.sleep(5.0)
            samples.append(100 * (meter.cpu() - c) / (time.time() - t))
        end, cpu1 = time.time(), meter.cpu()
        rss = meter.rss_mb()
        load_after = load()
        window = end - start
        cpu_pct = 100 * (cpu1 - cpu0) / window
        heartbeats = (fleet.total("heartbeats") - hb0) / window
        finished = (record.finished - fin0) / window
        offers = (len(record.offer_ids) - off0) / window
        update_rpcs = (fleet.total("update_rpcs") - upd0) / window
        await asyncio.sleep(args.latency_grace)
        latencies, never = record.offer_latencies(start, end, time.time())
    finally:
        await tear_down(frameworks, [*pools, leader], fleet)
        master.stop()

    assert fleet is not None
    wrong: list[str] = []
    if record.wrong_states:
        wrong.append(
            f"tasks ended other than FINISHED: {dict(record.wrong_states)} "
            f"e.g. {record.wrong_examples[:3]}"
        )
    if fleet.total("overbooked"):
        wrong.append(f"{fleet.total('overbooked')} launches beyond an agent's free resources")
    if record.double_offers:
        wrong.append(f"{record.double_offers} offer ids received twice")
    if fleet.total("registered") < args.agents:
        wrong.append(f"only {fleet.total('registered')} of {args.agents} agents registered")
    return {
        "agents": args.agents,
        "frameworks": args.frameworks,
        "registration_s": registration_s,
        "idle_master_cpu_pct": idle_cpu,
        "idle_heartbeats_per_s": idle_heartbeats,
        "master_cpu_pct": cpu_pct,
        "master_cpu_pct_samples": [round(s, 1) for s in samples],
        "master_rss_mb": rss,
        "offer_latency_p50_s": percentile(latencies, 50),
        "offer_latency_p99_s": percentile(latencies, 99),
        "offer_latency_max_s": max(latencies) if latencies else float("nan"),
        "freeings_measured": len(latencies),
        "freeings_never_reoffered": never,
        "heartbeats_per_s": heartbeats,
        "tasks_finished_per_s": finished,
        "offers_per_s": offers,
        "update_rpcs_per_s": update_rpcs,
        "heartbeat_failures": fleet.total("heartbeat_failures"),
        "reregistrations": fleet.total("reregistered"),
        "dropped_launches": record.dropped,
        "updates_resent": fleet.total("updates_resent"),
        "load_before": load_before,
        "load_after": load_after,
        "wrong": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--frameworks", type=int, default=10)
    parser.add_argument("--agent-resources", default="cpus:2;mem:2048")
    parser.add_argument("--task-resources", default="cpus:1;mem:1024")
    parser.add_argument("--task-seconds", type=float, default=20.0, help="mean; +-50 %%")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="master's ping timeout")
    parser.add_argument("--allocation-interval", type=float, default=1.0)
    parser.add_argument("--refuse-seconds", type=float, default=5.0)
    parser.add_argument(
        "--warmup", type=float, help="seconds after the slots fill (default 1.5 x task seconds)"
    )
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument(
        "--idle-measure", type=float, default=10.0, help="seconds of agents alone, measured"
    )
    parser.add_argument("--latency-grace", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--master-log-level", default="info")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = 1.5 * args.task_seconds  # every first-wave task has ended
    # SIGTERM stops the run like Ctrl-C: the masters and simulators are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    print(f"machine: {describe()}; {load()}")
    tmp = tempfile.mkdtemp(prefix="mesospy-scale-")
    work = Path(tmp)
    result = asyncio.run(run(args, work))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs in {work}")

    r = result
    cpu_ok = float(r["master_cpu_pct"]) <= CPU_TARGET  # type: ignore[arg-type]
    lat_ok = float(r["offer_latency_p99_s"]) <= LATENCY_TARGET  # type: ignore[arg-type]
    print()
    print(f"{'figure':<34} {'value':>14}   target")
    rows = [
        ("agents x frameworks", f"{r['agents']:,} x {r['frameworks']}", ""),
        ("registration of all agents", f"{r['registration_s']:.1f} s", ""),
        (
            "agents alone: master CPU (heartbeats/s)",
            f"{r['idle_master_cpu_pct']:.0f} % ({r['idle_heartbeats_per_s']:,.0f})",
            "",
        ),
        ("heartbeats / s", f"{r['heartbeats_per_s']:,.0f}", ""),
        ("tasks finished / s", f"{r['tasks_finished_per_s']:,.0f}", ""),
        ("offers / s", f"{r['offers_per_s']:,.0f}", ""),
        ("status update RPCs / s", f"{r['update_rpcs_per_s']:,.0f}", ""),
        (
            "master CPU, % of one core",
            f"{r['master_cpu_pct']:.0f} %",
            f"<= {CPU_TARGET:.0f} % ({'ok' if cpu_ok else 'MISSED'})",
        ),
        ("  5 s samples", " ".join(f"{s:.0f}" for s in r["master_cpu_pct_samples"]), ""),  # type: ignore[attr-defined]
        ("offer latency p50", f"{r['offer_latency_p50_s']:.3f} s", ""),
        (
            "offer latency p99",
            f"{r['offer_latency_p99_s']:.3f} s",
            f"<= {LATENCY_TARGET:.0f} s ({'ok' if lat_ok else 'MISSED'})",
        ),
        ("offer latency max", f"{r['offer_latency_max_s']:.3f} s", ""),
        (
            "freeings measured (never re-offered)",
            f"{r['freeings_measured']} ({r['freeings_never_reoffered']})",
            "",
        ),
        ("master RSS", f"{r['master_rss_mb']:,.0f} MB", "(reported)"),
        ("heartbeat failures (whole run)", f"{r['heartbeat_failures']:,}", "0 when healthy"),
        ("agent re-registrations (whole run)", f"{r['reregistrations']:,}", "0 when healthy"),
        ("launches dropped (agent re-registering)", f"{r['dropped_launches']:,}", ""),
    ]
    summary = (
        f"mesospy: {r['agents']:,} agents at {r['master_cpu_pct']:.0f} % of a core, "
        f"offer p99 {r['offer_latency_p99_s']:.2f} s | anchor: {ANCHOR}"
    )
    return report("scale", rows, r, summary)


if __name__ == "__main__":
    sys.exit(main())
