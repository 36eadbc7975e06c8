"""A real agent's standby sessions (see ``AgentRegistry.Connect`` in agent.proto): with two
masters contending in a real ZooKeeper, the agent stands by with the one that does not
lead, keeps it current as its tasks change, and when the leader is killed the other one
takes the agent over on ``resume``, without a new session or a re-registration.
A missing ZooKeeper makes these tests fail, never skip."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_agent_metrics import scrape

from mesospy.client import OperatorClient, OperatorError
from mesospy.cluster import Daemon
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.testing.zookeeper import ZooKeeperSandbox, ZooKeeperServer
from mesospy.v1 import common_pb2 as pb

MASTER_FLAGS = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "1",
    "--framework-heartbeat-interval",
    "1",
    "--zk-session-timeout",
    "2",
    "--agent-reregister-timeout",
    "30",
]
REGISTERED = "registered with master as agent"


@pytest.fixture(scope="module")
def zookeeper_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server


@pytest.fixture
def cluster(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> Iterator[LocalCluster]:
    """Two masters contending in ZooKeeper and one agent, all serving metrics."""
    sandbox = ZooKeeperSandbox(zookeeper_server)
    try:
        with LocalCluster(
            agents=1,
            masters=2,
            zk=sandbox.url,
            work_dir=tmp_path,
            master_flags=MASTER_FLAGS,
            agent_resources="cpus:2;mem:512",
            metrics=True,
        ) as c:
            yield c
    finally:
        sandbox.close()


def _await(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (OperatorError, OSError):  # a master not answering (yet)
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _master_metrics(daemon: Daemon) -> dict[str, float]:
    with OperatorClient(f"127.0.0.1:{daemon.port}", timeout=5.0) as client:
        return client.get_metrics()


def _agent_metrics(cluster: LocalCluster) -> dict[str, float]:
    url = cluster.agent_daemons[0].metrics_url
    assert url is not None
    return scrape(url)


def _masters(cluster: LocalCluster) -> tuple[Daemon, Daemon]:
    """(the leader, the master standing by)."""
    leader = cluster.leader()
    return leader, next(d for d in cluster.master_daemons if d is not leader)


def _standing_by(cluster: LocalCluster, standby: Daemon) -> None:
    """Wait until the agent's standby session with ``standby`` is held and current."""
    _await(
        lambda: _master_metrics(standby)["mesospy_master_standby_sessions"] == 1,
        "the standby master to hold the agent's session",
    )
    _await(
        lambda: _agent_metrics(cluster).get("mesospy_agent_standby_sessions{state=current}") == 1,
        "the agent's standby session to be current",
    )


def _fail_over(leader: Daemon, standby: Daemon) -> None:
    leader.signal(signal.SIGKILL)
    _await(
        lambda: _master_metrics(standby)["mesospy_master_agents_resumed_total"] == 1,
        "the new leader to take the agent over on resume",
        timeout=60,
    )


def _tasks(cluster: LocalCluster) -> dict[str, int]:
    return {t.task_id: t.state for t in cluster.state().tasks}


def test_the_new_leader_takes_the_agent_over_from_its_standby_session(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with FrameworkHarness(cluster.master_address, name="steady", failover_timeout=60) as fw:
        fw.submit([task("long", f"while [ ! -e {gate} ]; do sleep 0.05; done", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("long") == pb.TASK_RUNNING, what="RUNNING")
        agent_id = cluster.state().agents[0].agent_info.id
        leader, standby = _masters(cluster)
        _standing_by(cluster, standby)
        agent_log = cluster.agent_daemons[0].log
        registrations = agent_log.read_text().count(REGISTERED)

        _fail_over(leader, standby)
        assert cluster.leader() is standby
        state = cluster.state()
        assert [a.agent_info.id for a in state.agents] == [agent_id]
        assert _tasks(cluster) == {"long": pb.TASK_RUNNING}
        metrics = _master_metrics(standby)
        assert metrics['mesospy_master_agents{state="active"}'] == 1
        assert metrics["mesospy_master_standby_sessions"] == 0

        # The resumed session carries the task's end to the framework.
        gate.touch()
        fw.wait(
            lambda: fw.latest_states().get("long") == pb.TASK_FINISHED,
            timeout=60,
            what="FINISHED through the new leader",
        )
        _await(lambda: not _tasks(cluster), "the new leader to see the task end")
        # Taken over, not registered again: no new session, no re-registration.
        assert agent_log.read_text().count(REGISTERED) == registrations
        agent = _agent_metrics(cluster)
        assert agent["mesospy_agent_standby_resumes_total"] == 1
        assert agent["mesospy_agent_registered"] == 1

        # The old leader comes back as a contender: the agent stands by with it.
        leader.killed = False
        leader.start()
        _standing_by(cluster, leader)
        assert cluster.leader() is standby


def test_changes_while_standing_by_reach_the_standby_before_the_failover(
    cluster: LocalCluster,
) -> None:
    with FrameworkHarness(cluster.master_address, name="changing", failover_timeout=60) as fw:
        fw.submit(
            [task("a", "sleep 300", "cpus:0.1;mem:16"), task("b", "sleep 300", "cpus:0.1;mem:16")]
        )
        fw.wait(
            lambda: fw.latest_states().get("a") == fw.latest_states().get("b") == pb.TASK_RUNNING,
            what="a and b RUNNING",
        )
        leader, standby = _masters(cluster)
        _standing_by(cluster, standby)
        sent = _agent_metrics(cluster)["mesospy_agent_standby_reregistrations_total"]

        # While the agent stands by: a task ends (and is forgotten once acknowledged) and
        # another starts. The standby must hear of both before the leader dies.
        agent_id = cluster.state().agents[0].agent_info.id
        fw.driver.kill("b", agent_id)
        fw.submit([task("c", "sleep 300", "cpus:0.1;mem:16")])
        fw.wait(
            lambda: (
                fw.latest_states().get("b") == pb.TASK_KILLED
                and fw.latest_states().get("c") == pb.TASK_RUNNING
            ),
            what="b KILLED and c RUNNING",
        )
        _await(
            lambda: (
                (m := _agent_metrics(cluster)).get("mesospy_agent_status_updates_pending") == 0
                and m.get("mesospy_agent_tasks{state=TASK_RUNNING}") == 2
                and "mesospy_agent_tasks{state=TASK_KILLED}" not in m
            ),
            "the agent to settle: b forgotten, a and c running",
        )
        _standing_by(cluster, standby)
        assert _agent_metrics(cluster)["mesospy_agent_standby_reregistrations_total"] > sent

        _fail_over(leader, standby)
        # Resumed, so the new leader has what the last fresh re-registration said.
        assert _tasks(cluster) == {"a": pb.TASK_RUNNING, "c": pb.TASK_RUNNING}
        fw.driver.kill("c", agent_id)
        fw.wait(
            lambda: fw.latest_states().get("c") == pb.TASK_KILLED,
            timeout=60,
            what="c KILLED by the new leader",
        )
