"""Masters fail over through ZooKeeper with no task lost: real processes throughout."""

from __future__ import annotations

import collections
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.client import OperatorError
from mesospy.scheduler import is_terminal, task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.v1 import common_pb2 as pb

SESSION_TIMEOUT = 4.0
HA_MASTER = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "0.5",
    "--max-agent-ping-timeouts",
    "6",
    "--framework-heartbeat-interval",
    "1",
    "--zk-session-timeout",
    str(SESSION_TIMEOUT),
    "--agent-reregister-timeout",
    "20",
]


@pytest.fixture
def ha_cluster(zookeeper: ZooKeeperSandbox, tmp_path: Path) -> Iterator[LocalCluster]:
    """Three masters contending in ZooKeeper and three agents that follow the leader."""
    with LocalCluster(
        agents=3,
        masters=3,
        zk=zookeeper.url,
        work_dir=tmp_path,
        agent_resources="cpus:4;mem:1024;disk:1024;ports:[31000-31999]",
        master_flags=HA_MASTER,
    ) as cluster:
        yield cluster


def _wait_new_leader(cluster: LocalCluster, old: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if cluster.leader().name != old:
                return time.monotonic() - start
        except OperatorError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no new leader within {timeout}s")


def test_exactly_one_master_leads_and_the_others_redirect(ha_cluster: LocalCluster) -> None:
    leader = ha_cluster.leader()
    others = [d for d in ha_cluster.master_daemons if d is not leader]
    from mesospy.client import OperatorClient

    for daemon in others:
        with (
            OperatorClient(f"127.0.0.1:{daemon.port}") as client,
            pytest.raises(OperatorError, match=f"leader=127.0.0.1:{leader.port}"),
        ):
            client.get_state()


def test_killing_the_leader_elects_another_within_the_session_timeout(
    ha_cluster: LocalCluster,
) -> None:
    old = ha_cluster.leader()
    old.signal(signal.SIGKILL)
    took = _wait_new_leader(ha_cluster, old.name, SESSION_TIMEOUT + 2 + 5)
    assert took <= SESSION_TIMEOUT + 2
    # The agents follow the new leader and re-register.
    ha_cluster.wait_for(lambda s: len(s.agents) == 3, 30, "3 agents on the new leader")


@pytest.mark.timeout(180)  # room for the final wait's own message (75 s)
def test_tasks_survive_a_leader_kill_under_load(ha_cluster: LocalCluster, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    ran.mkdir()
    scheduler = TaskQueueScheduler(relaunch_lost=True)
    # Partition-aware: a task on an agent that is slow to re-register is UNREACHABLE (it
    # may still run), not LOST; only tasks no agent knows (TASK_UNKNOWN) are launched again.
    with FrameworkHarness(
        ha_cluster.master_address,
        scheduler,
        name="steady",
        failover_timeout=60,
        capabilities=[pb.FrameworkInfo.PARTITION_AWARE],
    ) as fw:
        # Each run leaves a line, so a task started twice would show.
        fw.submit(
            task(f"t{i}", f"echo $MESOS_TASK_ID >> {ran}/log; sleep {1 + i % 3}", "cpus:0.1;mem:16")
            for i in range(100)
        )
        fw.wait(
            lambda: sum(is_terminal(s) for s in fw.latest_states().values()) >= 20,
            timeout=60,
            what="20 tasks done",
        )
        leader = ha_cluster.leader()
        leader.signal(signal.SIGKILL)
        try:  # within the test's own timeout, so that a failure says which tasks hung
            fw.wait(
                lambda: sum(s == pb.TASK_FINISHED for s in fw.latest_states().values()) == 100,
                timeout=75,
                what="100 FINISHED tasks",
            )
        except TimeoutError as exc:
            states = fw.latest_states()
            hung = {t: pb.TaskState.Name(s) for t, s in states.items() if s != pb.TASK_FINISHED}
            missing = sorted({f"t{i}" for i in range(100)} - set(states))
            raise AssertionError(f"{exc}: not FINISHED {hung}, never heard of {missing}") from exc
        assert scheduler.subscriptions >= 2  # it re-subscribed to the new leader
    runs = collections.Counter((ran / "log").read_text().split())
    assert set(runs) == {f"t{i}" for i in range(100)}
    assert max(runs.values()) == 1, [t for t, n in runs.items() if n > 1]
