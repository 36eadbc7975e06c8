"""Chaos: kill masters, agents and the framework at random while tasks run, then check
that no task was lost, none ran twice, and the framework and the master agree.

    python tests/chaos/chaos.py --seed 7 --duration 60 --tasks 200

Starts its own ZooKeeper, three masters and three agents on loopback (in a temp dir) and
the framework of ``framework.py`` as a process of its own. A ``random.Random(seed)`` picks
what to do and when: kill -9 the leading master (restarted a little later), kill -9 an
agent (restarted on the same work dir), SIGSTOP an agent (SIGCONT later), kill -9 the
framework (restarted with the same framework id). Every action is printed with its time.
Once ``--duration`` is over, everything is brought back, the script waits for every task to
end and checks:

- no task lost: each ends with a terminal update the framework saw: FINISHED for tasks that
  exit 0, FAILED for tasks that exit 1, KILLED for the ones the framework kills;
- none launched twice: each task appends its id to a shared file when it starts;
- the truth is known: the master's GetTasks and GetState (completed tasks included) give
  the state the framework saw, for every task whose end the current master saw.

Exits 1 on any violation (the summary says which, and how to replay the seed), 0 otherwise.
Timing depends on the machine, so a seed replays the same choices, not the same interleaving.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesospy.client import OperatorClient, OperatorError
from mesospy.cluster import Daemon, LocalCluster
from mesospy.testing.zookeeper import ZooKeeperServer
from mesospy.v1 import common_pb2 as pb

HERE = Path(__file__).resolve().parent
FRAMEWORK = HERE / "framework.py"
SESSION_TIMEOUT = 4.0
MASTER_FLAGS = [
    "--allocation-interval", "0.2",
    "--agent-ping-timeout", "0.5",
    "--max-agent-ping-timeouts", "6",
    "--framework-heartbeat-interval", "1",
    "--zk-session-timeout", str(SESSION_TIMEOUT),
    "--agent-reregister-timeout", "10",
]  # fmt: skip
AGENT_RESOURCES = "cpus:4;mem:1024;disk:1024"
EXPECTED = {"ok": "TASK_FINISHED", "fail": "TASK_FAILED", "kill": "TASK_KILLED"}


@dataclass
class FrameworkProcess:
    """The framework as a process of its own, which can be killed and started again."""

    master: str
    state: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(FRAMEWORK),
                    "--master",
                    self.master,
                    "--state",
                    str(self.state),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.alive():
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or not self.alive():
            return
        self.process.terminate()  # it tears the framework down
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Chaos:
    seed: int
    duration: float
    tasks: int
    masters: int = 3
    agents: int = 3
    drain_timeout: float = 90.0
    keep: bool = False  # keep the work dir (logs, state file) even when all is well
    # Known bug: a task that ends while its agent is down is reported TASK_FAILED
    # (REASON_AGENT_RESTARTED, "exit status unknown"), not with its real exit status. With
    # this set, such ends are listed as tolerated rather than as violations.
    tolerate_unknown_exit: bool = False
    tolerated: list[str] = field(default_factory=list)
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mesospy-chaos-")))
    rng: random.Random = field(init=False)
    t0: float = field(init=False, default=0.0)
    actions: list[str] = field(default_factory=list)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    violations: list[str] = field(default_factory=list)
    # (due, what, action): restarts and SIGCONTs that are yet to come.
    pending: list[tuple[float, str, Callable[[], None]]] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # names of processes killed or stopped now
    last_master_kill: float = 0.0  # wall-clock time

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.markers = self.work_dir / "ran"
        self.state_file = self.work_dir / "framework-state.json"

    # ------------------------------------------------------------------ output

    def say(self, message: str) -> None:
        line = f"t={time.monotonic() - self.t0:5.1f}s {message}"
        self.actions.append(line)
        print(line, flush=True)

    def violation(self, message: str) -> None:
        self.violations.append(message)

    # ------------------------------------------------------------------ the run

    def run(self) -> int:
        print(
            f"chaos: seed={self.seed} duration={self.duration}s tasks={self.tasks} "
            f"masters={self.masters} agents={self.agents} work dir {self.work_dir}",
            flush=True,
        )
        self.t0 = time.monotonic()
        with ZooKeeperServer(tick_time_ms=500) as zookeeper:
            self.say(f"ZooKeeper up on {zookeeper.hosts}")
            cluster = LocalCluster(
                agents=self.agents,
                masters=self.masters,
                zk=f"zk://{zookeeper.hosts}/chaos-{self.seed}",
                work_dir=self.work_dir,
                agent_resources=AGENT_RESOURCES,
                master_flags=MASTER_FLAGS,
            )
            framework = FrameworkProcess(
                cluster.master_address, self.state_file, self.work_dir / "framework.log"
            )
            try:
                cluster.start()
                self.say(f"{self.masters} masters and {self.agents} agents up")
                self._write_tasks()
                framework.start()
                self.say(f"framework started with {self.tasks} tasks")
                self._wreak_havoc(cluster, framework)
                self._bring_everything_back()
                self._drain(framework)
                self._check(cluster)
            except Exception as exc:  # reported as a violation, with the seed
                self.violation(f"the chaos run itself failed: {exc!r}")
            finally:
                for _due, what, action in self.pending:  # SIGCONT what is stopped, at least
                    if "SIGCONT" in what:
                        action()
                framework.stop()
                cluster.stop()
        return self._summary()

    def _write_tasks(self) -> None:
        self.markers.touch()
        start = time.time() + 1.0
        # Released over most of the chaos, so that tasks start and end throughout it.
        spread = self.duration * 0.8 / max(self.tasks, 1)
        tasks: dict[str, dict[str, Any]] = {}
        for i in range(self.tasks):
            roll = self.rng.random()
            kind = "ok" if roll < 0.8 else "fail" if roll < 0.9 else "kill"
            seconds = round(self.rng.uniform(0.5, 2.0), 1)
            mark = f"echo $MESOS_TASK_ID >> {self.markers}"
            command = {
                "ok": f"{mark}; sleep {seconds}",
                "fail": f"{mark}; sleep {seconds}; exit 3",
                "kill": f"{mark}; sleep 120",
            }[kind]
            tasks[f"t{i:03d}-{kind}"] = {
                "command": command,
                "kind": kind,
                "release_at": start + i * spread,
                "status": "queued",
                "agent_id": "",
            }
        self.state_file.write_text(json.dumps({"framework_id": "", "tasks": tasks}, indent=1))

    # ------------------------------------------------------------------ havoc

    def _wreak_havoc(self, cluster: LocalCluster, framework: FrameworkProcess) -> None:
        end = time.monotonic() + self.duration
        next_action = time.monotonic() + self.rng.uniform(1.0, 3.0)
        while time.monotonic() < end:
            self._run_due()
            if time.monotonic() >= next_action:
                kind = self.rng.choices(
                    ["kill_master", "kill_agent", "pause_agent", "kill_framework"],
                    weights=[3, 3, 2, 2],
                )[0]
                # Every action draws the same numbers whether it happens or is skipped, so a
                # seed replays the same sequence of choices whatever the timing.
                pick, fraction = self.rng.random(), self.rng.random()
                getattr(self, f"_{kind}")(cluster, framework, pick, fraction)
                next_action = time.monotonic() + self.rng.uniform(1.0, 4.0)
            time.sleep(0.05)
        self.say("chaos over")

    def _later(self, seconds: float, what: str, action: Callable[[], None]) -> None:
        self.pending.append((time.monotonic() + seconds, what, action))

    def _run_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        due = [p for p in self.pending if everything or p[0] <= now]
        self.pending = [p for p in self.pending if p not in due]
        for _, _, action in sorted(due, key=lambda p: p[0]):
            action()

    def _bring_everything_back(self) -> None:
        self._run_due(everything=True)

    def _restart_daemon(self, daemon: Daemon) -> Callable[[], None]:
        def restart() -> None:
            daemon.killed = False
            daemon.start()
            self.down.discard(daemon.name)
            self.say(f"restart {daemon.name}")

        return restart

    def _kill_master(
        self, cluster: LocalCluster, framework: FrameworkProcess, pick: float, fraction: float
    ) -> None:
        if any(d.name in self.down for d in cluster.master_daemons):
            return self._skip("kill leading master: a master is down already")
        try:
            leader = cluster.leader()
        except OperatorError as exc:
            return self._skip(f"kill leading master: no leader now ({exc})")
        leader.signal(signal.SIGKILL)
        assert leader.process is not None
        leader.process.wait()
        self.last_master_kill = time.time()
        self.down.add(leader.name)
        self.counts["kill -9 leading master"] += 1
        self.say(f"kill -9 leading master {leader.name}")
        self._later(1.0 + 4.0 * fraction, "restart", self._restart_daemon(leader))

    def _up_agents(self, cluster: LocalCluster) -> list[Daemon]:
        return [d for d in cluster.agent_daemons if d.name not in self.down and d.alive()]

    def _kill_agent(
        self, cluster: LocalCluster, framework: FrameworkProcess, pick: float, fraction: float
    ) -> None:
        agents = self._up_agents(cluster)
        if not agents:
            return self._skip("kill -9 agent: none is up")
        agent = agents[int(pick * len(agents))]
        agent.signal(signal.SIGKILL)
        assert agent.process is not None
        agent.process.wait()
        self.down.add(agent.name)
        self.counts["kill -9 agent"] += 1
        self.say(f"kill -9 {agent.name}")
        self._later(0.5 + 3.5 * fraction, "restart", self._restart_daemon(agent))

    def _pause_agent(
        self, cluster: LocalCluster, framework: FrameworkProcess, pick: float, fraction: float
    ) -> None:
        agents = self._up_agents(cluster)
        if not agents:
            return self._skip("SIGSTOP agent: none is up")
        agent = agents[int(pick * len(agents))]
        seconds = 1.0 + 6.0 * fraction  # past 3 s the master finds it unreachable
        agent.signal(signal.SIGSTOP)
        self.down.add(agent.name)
        self.counts["SIGSTOP agent"] += 1
        self.say(f"SIGSTOP {agent.name} for {seconds:.1f}s")

        def resume() -> None:
            agent.signal(signal.SIGCONT)
            self.down.discard(agent.name)
            self.say(f"SIGCONT {agent.name}")

        self._later(seconds, "SIGCONT", resume)

    def _kill_framework(
        self, cluster: LocalCluster, framework: FrameworkProcess, pick: float, fraction: float
    ) -> None:
        if "framework" in self.down:
            return self._skip("kill -9 framework: it is down already")
        framework.kill()
        self.down.add("framework")
        self.counts["kill -9 framework"] += 1
        self.say("kill -9 framework")

        def restart() -> None:
            framework.start()
            self.down.discard("framework")
            self.say("restart framework")

        self._later(0.5 + 2.5 * fraction, "restart", restart)

    def _skip(self, why: str) -> None:
        self.say(f"(skip {why})")

    # ------------------------------------------------------------------ the end

    def _load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def _drain(self, framework: FrameworkProcess) -> None:
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            if not framework.alive():
                code = framework.process.returncode if framework.process else None
                self.violation(f"the framework exited on its own (exit status {code})")
                self.say("framework died: restart it")
                framework.start()
            tasks = self._load()["tasks"]
            if all(t.get("terminal") for t in tasks.values()):
                self.say("every task ended")
                return
            time.sleep(0.2)
        tasks = self._load()["tasks"]
        stuck = {tid: t.get("updates", [[0, "never updated"]])[-1][1] for tid, t in tasks.items()}
        stuck = {tid: s for tid, s in stuck.items() if not tasks[tid].get("terminal")}
        self.violation(
            f"stuck: {len(stuck)} task(s) not ended {self.drain_timeout:.0f}s after the chaos: "
            + ", ".join(f"{tid} ({state})" for tid, state in sorted(stuck.items()))
        )

    def _master_view(self, cluster: LocalCluster) -> tuple[dict[str, str], dict[str, str]]:
        """Each task's state in GetTasks and in GetState: active first, else newest done."""
        deadline = time.monotonic() + 30
        while True:
            try:
                leader = cluster.leader()
                with OperatorClient(f"127.0.0.1:{leader.port}") as client:
                    active = list(client.iter_tasks())
                    listed = list(client.iter_tasks(include_completed=True))
                    state = client.get_state()
                break
            except OperatorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        return _latest(listed, len(active)), _latest(
            [*state.tasks, *state.completed_tasks], len(state.tasks)
        )

    def _check(self, cluster: LocalCluster) -> None:
        data = self._load()
        tasks: dict[str, dict[str, Any]] = data["tasks"]
        runs = collections.Counter(self.markers.read_text().split())
        by_tasks, by_state = self._master_view(cluster)
        if by_tasks != by_state:
            differ = sorted(
                k for k in by_tasks.keys() | by_state.keys() if by_tasks.get(k) != by_state.get(k)
            )
            self.violation(f"GetTasks and GetState disagree on {differ}")
        for tid in sorted(tasks):
            t = tasks[tid]
            end = t.get("terminal")
            expected = EXPECTED[t["kind"]]
            if end is None:
                continue  # reported as stuck
            if end != expected:
                message = f"lost: {tid} ended {end}, expected {expected}: {_history(t)}"
                if self.tolerate_unknown_exit and _unknown_exit(t):
                    self.tolerated.append(message)
                else:
                    self.violation(message)
            ran = runs.get(tid, 0)
            if ran > 1:
                self.violation(f"launched twice: {tid} ran {ran} times: {_history(t)}")
            elif ran == 0 and t["kind"] != "kill":
                self.violation(f"never ran: {tid} ended {end} with no marker: {_history(t)}")
            master = by_tasks.get(tid)
            if master is None:
                if t["terminal_at"] > self.last_master_kill + 1.0:
                    self.violation(
                        f"untruth: {tid} ended {end} under the current leader, "
                        "which does not know it"
                    )
            elif master != end:
                self.violation(f"untruth: the master says {tid} is {master}, the framework {end}")
        for tid in sorted(set(runs) - set(tasks)):
            self.violation(f"a marker for a task that does not exist: {tid}")
        ends = collections.Counter(t.get("terminal", "not ended") for t in tasks.values())
        relaunched = sum(t.get("relaunched", 0) for t in tasks.values())
        self.report = (
            f"tasks: {dict(sorted(ends.items()))}; relaunched after LOST/UNKNOWN: {relaunched}; "
            f"framework subscriptions: {data.get('subscriptions', 0)}; "
            f"known to the master at the end: {sum(tid in by_tasks for tid in tasks)}"
        )

    def _summary(self) -> int:
        print("\nsummary")
        print(f"  seed {self.seed}, {self.duration}s of chaos, {self.tasks} tasks")
        print(f"  actions: {dict(self.counts) or 'none'}")
        print(f"  {getattr(self, 'report', 'no check was made')}")
        print(f"  took {time.monotonic() - self.t0:.1f}s in all")
        if self.tolerated:
            print(
                f"  {len(self.tolerated)} tolerated (known bug: the agent does not know the exit "
                "status of a task that ended while it was down):"
            )
            for message in self.tolerated:
                print(f"    - {message}")
        if not self.violations:
            print("  invariants hold: no task lost, none launched twice, the master agrees")
            if self.keep:
                print(f"  logs kept in {self.work_dir}")
            else:
                shutil.rmtree(self.work_dir, ignore_errors=True)
            return 0
        print(f"  {len(self.violations)} VIOLATION(S):")
        for violation in self.violations:
            print(f"    - {violation}")
        print(f"  logs kept in {self.work_dir}")
        print(
            f"  replay: python tests/chaos/chaos.py --seed {self.seed} --duration {self.duration} "
            f"--tasks {self.tasks} --masters {self.masters} --agents {self.agents}"
            + (" --tolerate-unknown-exit" if self.tolerate_unknown_exit else "")
        )
        return 1


def _latest(tasks: list[pb.Task], active: int) -> dict[str, str]:
    """Task id -> state name: the active entry if any, else the newest completed one.

    ``tasks`` lists the ``active`` active tasks first, then the completed ones, oldest first.
    """
    view = {t.task_id: pb.TaskState.Name(t.state) for t in tasks[active:]}
    view.update((t.task_id, pb.TaskState.Name(t.state)) for t in tasks[:active])
    return view


def _unknown_exit(task: dict[str, Any]) -> bool:
    """Whether the task's end was TASK_FAILED from an agent that restarted meanwhile."""
    ends = [u for u in task.get("updates", []) if u[1] == task.get("terminal")]
    return bool(ends) and ends[0][1] == "TASK_FAILED" and ends[0][3] == "REASON_AGENT_RESTARTED"


def _history(task: dict[str, Any]) -> str:
    updates = " ".join(
        f"{state}/{source.removeprefix('SOURCE_')}"
        for _, state, source, _ in task.get("updates", [])
    )
    return (
        f"[launches {task.get('launches', 0)}, relaunched {task.get('relaunched', 0)}: {updates}]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Kill masters, agents and the framework at random while tasks run; "
        "check that no task is lost or run twice."
    )
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of chaos")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument(
        "--drain-timeout", type=float, default=90.0, help="seconds for tasks to end afterwards"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs even on success")
    parser.add_argument(
        "--tolerate-unknown-exit",
        action="store_true",
        help="list tasks that ended FAILED (REASON_AGENT_RESTARTED) while their agent was "
        "down as tolerated, not as violations (a known bug)",
    )
    args = parser.parse_args(argv)
    chaos = Chaos(
        seed=args.seed,
        duration=args.duration,
        tasks=args.tasks,
        masters=args.masters,
        agents=args.agents,
        drain_timeout=args.drain_timeout,
        keep=args.keep,
        tolerate_unknown_exit=args.tolerate_unknown_exit,
    )
    with contextlib.suppress(KeyboardInterrupt):
        return chaos.run()
    return 130


if __name__ == "__main__":
    sys.exit(main())
