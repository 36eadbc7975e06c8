"""grpc.health.v1 follows leadership: SERVING on the leader only, ``mesospy.alive`` on every
live master, and the statuses flip on failover. Real masters contending in a real ZooKeeper."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.cluster import Daemon
from mesospy.testing import LocalCluster
from mesospy.testing.reflection import ReflectionClient, health_status, watch_health
from mesospy.testing.zookeeper import ZooKeeperSandbox

SERVICES = ["", "mesospy.v1.Scheduler", "mesospy.v1.AgentRegistry", "mesospy.v1.Operator"]
MASTER_FLAGS = ["--allocation-interval", "0.2", "--zk-session-timeout", "2"]


@pytest.fixture
def two_masters(zookeeper: ZooKeeperSandbox, tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(
        agents=0, masters=2, zk=zookeeper.url, work_dir=tmp_path, master_flags=MASTER_FLAGS
    ) as cluster:
        yield cluster


def _roles(cluster: LocalCluster) -> tuple[Daemon, Daemon]:
    leader = cluster.leader()
    standby = next(d for d in cluster.master_daemons if d is not leader)
    return leader, standby


def _channel(daemon: Daemon) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{daemon.port}")


def test_only_the_leader_is_serving_and_both_are_alive(two_masters: LocalCluster) -> None:
    leader, standby = _roles(two_masters)
    with _channel(leader) as to_leader, _channel(standby) as to_standby:
        for name in SERVICES:
            assert health_status(to_leader, name) == "SERVING", name
            assert health_status(to_standby, name) == "NOT_SERVING", name
        assert health_status(to_leader, "mesospy.alive") == "SERVING"
        assert health_status(to_standby, "mesospy.alive") == "SERVING"
        # Reflection answers on a standby too; its services refuse work and name the leader.
        client = ReflectionClient(to_standby)
        assert "mesospy.v1.Operator" in client.services()
        with pytest.raises(grpc.RpcError) as refused:
            client.call("mesospy.v1.Operator/GetState")
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"leader=127.0.0.1:{leader.port}" in (refused.value.details() or "")


def test_the_standby_turns_serving_when_the_leader_dies(two_masters: LocalCluster) -> None:
    leader, standby = _roles(two_masters)
    with _channel(standby) as to_standby:
        statuses = watch_health(to_standby, "mesospy.v1.Operator")
        assert next(statuses) == "NOT_SERVING"
        leader.signal(signal.SIGKILL)
        assert next(statuses) == "SERVING"
        assert health_status(to_standby, "") == "SERVING"
    assert two_masters.leader() is standby


def test_a_leader_stopping_says_not_serving_before_it_goes(two_masters: LocalCluster) -> None:
    leader, standby = _roles(two_masters)
    with _channel(leader) as to_leader, _channel(standby) as to_standby:
        leaving = watch_health(to_leader, "")
        assert next(leaving) == "SERVING"
        taking_over = watch_health(to_standby, "")
        assert next(taking_over) == "NOT_SERVING"
        leader.signal(signal.SIGTERM)
        assert next(leaving) == "NOT_SERVING"
        assert next(taking_over) == "SERVING"
