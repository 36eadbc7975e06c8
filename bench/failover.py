"""Failover: 3 masters + a real ZooKeeper, simulated agents holding many tasks; kill -9 the
leader and time the recovery.

Starts a ZooKeeper (``mesospy.testing.zookeeper``, Debian's package), 3 masters contending
through it, ``--agents`` simulated agents (``sim_agents.py``, the real agent protocol,
finding the leader through ZooKeeper) with room for ``--tasks / --agents`` tasks plus one
free slot each, and ``--frameworks`` lean frameworks (``sim_frameworks.py``) that launch
``--tasks`` long-running tasks between them and then decline with a long filter. Once every
task is RUNNING and acknowledged, the leader gets SIGKILL. Measured (wall clock):

- detection: kill -> ZooKeeper names a new leader (the dead master's session must expire:
  ``--zk-session-timeout``);
- recovery: new leader named -> every agent back with it (all its tasks taken over; the
  time of the line the new leader logs then, since an agent that resumes its standby
  session is not answered) and every framework re-subscribed and offered resources again;
- total: kill -> recovered.

The target (<= 3 s) and the anchor (Mesos 1.5, ~4.5 s at 10k agents / 100k tasks) are
for the recovery; detection is set by the session timeout.

    python bench/failover.py                               # 1,000 agents, 10,000 tasks
    python bench/failover.py --agents 10000 --tasks 100000 --frameworks 100
    python bench/failover.py --no-standby    # agents without standby sessions (as before)

Exits non-zero on a wrong result: a task lost or ended (the new leader must know every
task), an agent not re-registered, a launch beyond an agent's resources.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet import CpuMeter, Fleet, load, raise_fd_limit, start_master, tear_down, wait_serving
from machine import describe, py_spy, report
from sim_frameworks import ChannelPool, LeanFramework, Record

from mesospy.client import OperatorClient
from mesospy.cluster import Daemon
from mesospy.detector import MasterDetector
from mesospy.resources import Resources
from mesospy.testing.zookeeper import ZooKeeperServer

ANCHOR = "Mesos 1.5: ~4.5 s at 10k agents / 100k tasks"
TARGET = 3.0  # s, new leader named -> recovered


def leader_of(masters: list[Daemon], address: str) -> Daemon:
    port = int(address.rsplit(":", 1)[1])
    return next(m for m in masters if m.port == port)


def master_counts(daemon: Daemon) -> tuple[int, int, int]:
    """(agents, non-terminal tasks, agents taken over from standby sessions) the master
    knows, from its metrics."""
    with OperatorClient(f"127.0.0.1:{daemon.port}", timeout=30.0) as client:
        metrics = client.get_metrics()
    agents = sum(v for k, v in metrics.items() if k.startswith("mesospy_master_agents{"))
    agents -= sum(
        v
        for k, v in metrics.items()
        if k.startswith("mesospy_master_agents{") and ("unreachable" in k or "gone" in k)
    )
    tasks = sum(
        v
        for k, v in metrics.items()
        if k.startswith("mesospy_master_tasks{") and ("RUNNING" in k or "STAGING" in k)
    )
    return int(agents), int(tasks), int(metrics.get("mesospy_master_agents_resumed_total", 0))


BACK = "every agent in the registry is back"


async def agents_back_at(leader: Daemon, timeout: float) -> float:
    """When the new leader had every agent back (wall clock), from the line it logs then:
    an agent that resumes its standby session is not answered, so only the master knows
    when it took the agent over (and asking it, a scrape of 100,000 tasks, would load it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in leader.log.read_text(errors="replace").splitlines():
            if BACK in line:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                return stamp.timestamp()
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the new leader did not log {BACK!r} within {timeout} s")


async def run(args: argparse.Namespace, work: Path, zk_hosts: str) -> dict[str, object]:
    raise_fd_limit()
    url = f"zk://{zk_hosts}/mesospy-bench"
    flags = [
        "--zk",
        url,
        "--zk-session-timeout",
        str(args.zk_session_timeout),
        "--agent-ping-timeout",
        str(args.heartbeat),
        "--log-level",
        args.master_log_level,
    ]
    masters = [start_master(work, f"master-{i}", flags) for i in range(3)]
    detector = MasterDetector(url)
    fleet: Fleet | None = None
    pools: list[ChannelPool] = []
    leader: MasterDetector | None = None
    frameworks: list[LeanFramework] = []
    jobs: list[asyncio.Task[None]] = []
    per_agent = -(-args.tasks // args.agents)
    per_task = Resources.parse(args.task_resources)
    agent_resources = (
        f"cpus:{(per_agent + 1) * per_task.scalar('cpus')};"
        f"mem:{(per_agent + 1) * per_task.scalar('mem')}"
    )
    try:
        first = await detector.detect(timeout=60)
        old = leader_of(masters, first)
        await asyncio.to_thread(wait_serving, old)
        fleet = Fleet(
            url, args.agents, agent_resources, work, extra=[] if args.standby else ["--no-standby"]
        )
        t0 = time.time()
        await fleet.start()
        await fleet.wait(
            f"{args.agents} agents to register",
            lambda: fleet is not None and fleet.registered() >= args.agents,
            args.timeout,
        )
        print(f"{args.agents} agents registered in {time.time() - t0:.1f} s ({load()})")

        record = Record()
        leader = MasterDetector(url)
        share, extra = divmod(args.tasks, args.frameworks)
        for i in range(args.frameworks):
            pools.append(ChannelPool("", leader))
            framework = LeanFramework(
                f"fw{i}",
                pools[-1],
                record,
                per_task,
                lambda: 1e7,
                share + (1 if i < extra else 0),
                3600.0,
                in_flight=4,
            )
            frameworks.append(framework)
            jobs.append(asyncio.ensure_future(framework.run()))
        t1 = time.time()
        try:
            await fleet.wait(
                f"{args.tasks} tasks running and acknowledged",
                lambda: fleet is not None and fleet.total("acks") >= args.tasks,
                args.timeout,
            )
        except TimeoutError:
            print(
                f"launched {record.launched}, acks {fleet.total('acks')}, send errors "
                f"{dict(record.send_errors)}, e.g. {record.wrong_examples[:3]}"
            )
            raise
        print(f"{args.tasks} tasks running in {time.time() - t1:.1f} s ({load()})")
        await asyncio.sleep(args.settle)
        survivors = [m for m in masters if m is not old]
        meters = {m.name: CpuMeter(m.process.pid) for m in survivors}  # type: ignore[union-attr]
        cpu0 = {name: meter.cpu() for name, meter in meters.items()}
        load_before = load()

        killed_at = time.time()
        old.signal(signal.SIGKILL)
        if args.py_spy:
            args.py_spy.mkdir(parents=True, exist_ok=True)
        profilers = [
            py_spy(m.process.pid, str(args.py_spy / f"{m.name}.raw"))  # type: ignore[union-attr]
            for m in (survivors if args.py_spy else [])
        ]
        print(f"killed the leader {old.name} (pid {old.process.pid})")  # type: ignore[union-attr]
        new_address = await detector.wait_change(first, args.timeout)
        elected_at = time.time()
        if new_address is None or new_address == first:
            raise TimeoutError("no new leader was elected")
        new = leader_of(masters, new_address)
        print(f"new leader {new.name} named after {elected_at - killed_at:.2f} s")

        def agents_back() -> bool:
            assert fleet is not None
            at = fleet.all_registered_at()
            return at > killed_at and all(s.get("leader") == new_address for s in fleet.latest)

        def frameworks_back() -> bool:
            return all(f.first_offer_at > killed_at for f in frameworks)

        await fleet.wait("every agent to re-register", agents_back, args.timeout)
        await fleet.wait("every framework to be offered again", frameworks_back, args.timeout)
        subscribed_at = max(f.subscribed_at for f in frameworks)
        first_offer_at = min(f.first_offer_at for f in frameworks)
        offers_at = max(f.first_offer_at for f in frameworks)
        agents_at = await agents_back_at(new, args.timeout)
        recovered_at = max(agents_at, offers_at)
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
            profiler.wait(60)
        new_cpu = meters[new.name].cpu() - cpu0[new.name]
        rss = meters[new.name].rss_mb()
        load_after = load()
        await asyncio.sleep(1.0)
        known_agents, known_tasks, resumed = await asyncio.to_thread(master_counts, new)
    finally:
        await tear_down(jobs, [*pools, leader], fleet)
        await detector.close()
        for m in masters:
            m.stop()

    wrong: list[str] = []
    if record.wrong_states:
        wrong.append(f"tasks ended: {dict(record.wrong_states)} e.g. {record.wrong_examples[:3]}")
    if known_tasks != args.tasks:
        wrong.append(f"the new leader knows {known_tasks} running tasks, not {args.tasks}")
    if known_agents != args.agents:
        wrong.append(f"the new leader knows {known_agents} agents, not {args.agents}")
    if fleet.total("tasks") != args.tasks:
        wrong.append(f"the agents hold {fleet.total('tasks')} tasks, not {args.tasks}")
    if fleet.total("overbooked"):
        wrong.append(f"{fleet.total('overbooked')} launches beyond an agent's free resources")
    if record.double_offers:
        wrong.append(f"{record.double_offers} offer ids received twice")
    return {
        "agents": args.agents,
        "tasks": args.tasks,
        "frameworks": args.frameworks,
        "zk_session_timeout_s": args.zk_session_timeout,
        "detection_s": elected_at - killed_at,
        "agents_reregistered_s": agents_at - elected_at,
        "frameworks_resubscribed_s": subscribed_at - elected_at,
        "first_offer_s": first_offer_at - elected_at,
        "all_frameworks_offered_s": offers_at - elected_at,
        "recovery_s": recovered_at - elected_at,
        "total_s": recovered_at - killed_at,
        "new_leader_cpu_s": new_cpu,
        "new_leader_rss_mb": rss,
        "known_agents": known_agents,
        "known_tasks": known_tasks,
        "agents_resumed": resumed,
        "standby_sessions": args.standby,
        "load_before": load_before,
        "load_after": load_after,
        "wrong": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--frameworks", type=int, default=10)
    parser.add_argument(
        "--standby",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="agents keep standby sessions with the other masters (--no-standby: as before)",
    )
    parser.add_argument("--task-resources", default="cpus:1;mem:256")
    parser.add_argument(
        "--zk-session-timeout", type=float, default=10.0, help="the masters' (their default)"
    )
    parser.add_argument("--heartbeat", type=float, default=5.0, help="master's ping timeout")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before the kill")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--master-log-level", default="info")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument(
        "--py-spy", type=Path, help="profile the surviving masters from the kill to recovery"
    )
    args = parser.parse_args()
    # SIGTERM stops the run like Ctrl-C: the masters and simulators are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    print(f"machine: {describe()}; {load()}")
    work = Path(tempfile.mkdtemp(prefix="mesospy-failover-"))
    with ZooKeeperServer(tick_time_ms=500) as zk:
        result = asyncio.run(run(args, work, zk.hosts))
    if args.keep:
        print(f"logs in {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)

    r = result
    ok = float(r["recovery_s"]) <= TARGET  # type: ignore[arg-type]
    print()
    print(f"{'figure':<46} {'value':>12}   target")
    rows = [
        ("agents / tasks / frameworks", f"{r['agents']:,}/{r['tasks']:,}/{r['frameworks']}", ""),
        (
            f"detection: kill -> new leader (session {r['zk_session_timeout_s']} s)",
            f"{r['detection_s']:.2f} s",
            "",
        ),
        ("new leader -> every agent re-registered", f"{r['agents_reregistered_s']:.2f} s", ""),
        (
            "  of them taken over from standby sessions",
            f"{r['agents_resumed']:,}",
            "" if r["standby_sessions"] else "(--no-standby)",
        ),
        (
            "new leader -> every framework re-subscribed",
            f"{r['frameworks_resubscribed_s']:.2f} s",
            "",
        ),
        ("new leader -> first offer", f"{r['first_offer_s']:.2f} s", ""),
        ("new leader -> every framework offered", f"{r['all_frameworks_offered_s']:.2f} s", ""),
        (
            "recovery: new leader -> all back, offers flow",
            f"{r['recovery_s']:.2f} s",
            f"<= {TARGET:.0f} s ({'ok' if ok else 'MISSED'})",
        ),
        ("total: kill -> recovered", f"{r['total_s']:.2f} s", ""),
        ("new leader CPU during recovery", f"{r['new_leader_cpu_s']:.1f} s", ""),
        ("new leader RSS", f"{r['new_leader_rss_mb']:,.0f} MB", ""),
    ]
    summary = (
        f"mesospy: recovery {r['recovery_s']:.2f} s (total {r['total_s']:.2f} s) | anchor: {ANCHOR}"
    )
    return report("failover", rows, r, summary)


if __name__ == "__main__":
    sys.exit(main())
