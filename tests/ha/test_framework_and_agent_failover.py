"""Frameworks and agents that go away and come back: failover timeout, agent restart,
network partition. Real master, agents, tasks (and ZooKeeper where masters fail over)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.agent.exit_status import EXIT_LOG
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.v1 import common_pb2 as pb

FAST = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "0.5",
    "--max-agent-ping-timeouts",
    "4",
    "--framework-heartbeat-interval",
    "1",
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        master_flags=FAST,
        agent_resources="cpus:2;mem:512;ports:[31000-31999]",
    ) as c:
        yield c


def _running(
    cluster: LocalCluster, name: str, failover_timeout: float, capabilities: list[int] | None = None
) -> tuple[FrameworkHarness, str]:
    fw = FrameworkHarness(
        cluster.master_address,
        name=name,
        failover_timeout=failover_timeout,
        capabilities=capabilities or [],
    ).start()
    fw.submit([task("long", "sleep 300", "cpus:0.1;mem:16")])
    fw.wait(lambda: fw.latest_states().get("long") == pb.TASK_RUNNING, what="RUNNING")
    return fw, fw.driver.framework_id


def _resume(cluster: LocalCluster, framework_id: str, name: str) -> FrameworkHarness:
    """A new scheduler instance re-subscribing with the old framework id."""
    scheduler = TaskQueueScheduler()
    scheduler.framework_id = framework_id  # so it reconciles once subscribed
    fw = FrameworkHarness(cluster.master_address, scheduler, name=name, failover_timeout=60)
    fw.driver._info.id = framework_id
    return fw


def test_framework_failover_within_its_timeout_keeps_tasks(cluster: LocalCluster) -> None:
    old, framework_id = _running(cluster, "phoenix", failover_timeout=60)
    old.stop(failover=True)
    new = _resume(cluster, framework_id, "phoenix").start()
    new.driver.reconcile([("long", "")])
    new.wait(lambda: new.latest_states().get("long") == pb.TASK_RUNNING, what="still RUNNING")
    state = cluster.state()
    assert [t.task_id for t in state.tasks if t.framework_id == framework_id] == ["long"]
    new.stop()  # teardown kills it


def test_framework_away_beyond_its_timeout_is_removed_and_its_tasks_killed(
    cluster: LocalCluster,
) -> None:
    old, framework_id = _running(cluster, "mayfly", failover_timeout=1)
    old.stop(failover=True)
    cluster.wait_for(
        lambda s: not any(f.framework_info.id == framework_id for f in s.frameworks),
        30,
        "the framework to be removed",
    )
    state = cluster.wait_for(
        lambda s: any(
            t.task_id == "long" and t.framework_id == framework_id for t in s.completed_tasks
        ),
        30,
        "its task to end",
    )
    done = [t for t in state.completed_tasks if t.framework_id == framework_id]
    assert done[0].state == pb.TASK_KILLED


def test_agent_restart_keeps_running_tasks(cluster: LocalCluster) -> None:
    fw, _ = _running(cluster, "steadfast", failover_timeout=60)
    agent_id = cluster.state().agents[0].agent_info.id
    daemon = cluster.agent_daemons[0]
    daemon.signal(signal.SIGKILL)
    daemon.process.wait()  # type: ignore[union-attr]
    registrations = _registrations(daemon.log)
    daemon.killed = False
    daemon.start()  # same work dir: it recovers its checkpoint
    deadline = time.monotonic() + 30
    while _registrations(daemon.log) == registrations:
        assert time.monotonic() < deadline, "the agent did not re-register"
        time.sleep(0.05)
    assert [a.agent_info.id for a in cluster.state().agents] == [agent_id]
    state = cluster.state()
    assert [(t.task_id, t.state) for t in state.tasks] == [("long", pb.TASK_RUNNING)]
    # The recovered task is still under the agent's control: kill it.
    fw.driver.kill("long", agent_id)
    fw.wait(lambda: fw.latest_states().get("long") == pb.TASK_KILLED, what="KILLED")
    fw.stop()


def _registrations(log: Path) -> int:
    return log.read_text().count("registered with master as agent")


def test_partitioned_agent_comes_back_running_for_partition_aware_frameworks(
    cluster: LocalCluster,
) -> None:
    fw, _ = _running(
        cluster, "patient", failover_timeout=60, capabilities=[pb.FrameworkInfo.PARTITION_AWARE]
    )
    daemon = cluster.agent_daemons[0]
    daemon.signal(signal.SIGSTOP)
    try:
        fw.wait(
            lambda: fw.latest_states().get("long") == pb.TASK_UNREACHABLE,
            timeout=30,
            what="UNREACHABLE",
        )
    finally:
        daemon.signal(signal.SIGCONT)
    fw.wait(
        lambda: fw.latest_states().get("long") == pb.TASK_RUNNING, timeout=30, what="RUNNING again"
    )
    fw.stop()


def test_framework_failover_across_a_master_failover(
    zookeeper: ZooKeeperSandbox, tmp_path: Path
) -> None:
    flags = [*FAST, "--zk-session-timeout", "4", "--agent-reregister-timeout", "10"]
    with LocalCluster(
        agents=1,
        masters=2,
        zk=zookeeper.url,
        work_dir=tmp_path,
        master_flags=flags,
        agent_resources="cpus:2;mem:512",
    ) as c:
        old, framework_id = _running(c, "traveller", failover_timeout=60)
        old.stop(failover=True)
        c.leader().signal(signal.SIGKILL)
        new = _resume(c, framework_id, "traveller").start()
        new.driver.reconcile([("long", "")])
        new.wait(
            lambda: new.latest_states().get("long") == pb.TASK_RUNNING,
            timeout=60,
            what="the task RUNNING under the new leader",
        )
        new.stop()


def test_a_task_that_ends_while_its_agent_is_down_reports_its_real_exit_status(
    cluster: LocalCluster,
) -> None:
    fw = FrameworkHarness(cluster.master_address, name="witness", failover_timeout=60).start()
    gate = cluster.work_dir / "gate"  # type: ignore[operator]
    fw.submit(
        [task("late", f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 5", "cpus:0.1;mem:16")]
    )
    fw.wait(lambda: fw.latest_states().get("late") == pb.TASK_RUNNING, what="RUNNING")
    daemon = cluster.agent_daemons[0]
    daemon.signal(signal.SIGKILL)
    daemon.process.wait()  # type: ignore[union-attr]
    gate.touch()  # the task ends now, while nobody is there to reap it
    # The task's shell appends its status to the agent's exit log as it ends.
    exit_log = cluster.work_dir / "agent-0" / EXIT_LOG  # type: ignore[operator]
    deadline = time.monotonic() + 30
    while not (exit_log.exists() and "/tasks/late\n" in exit_log.read_text()):
        assert time.monotonic() < deadline, "the task's shell recorded no exit status"
        time.sleep(0.05)
    daemon.killed = False
    daemon.start()
    fw.wait(lambda: fw.latest_states().get("late") == pb.TASK_FAILED, what="FAILED")
    final = [s for s in fw.tasks.statuses if s.task_id == "late"][-1]
    assert final.exit_code == 5, final.message
    assert "status 5" in final.message
    fw.stop()
