"""Quota kept in ZooKeeper outlives the master that set it (real ZooKeeper, real masters)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.client import OperatorClient, OperatorError
from mesospy.resources import Resources
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.v1 import operator_pb2 as opb
from mesospy.zk.registry import ZooKeeperRegistry

from .support import run
from .test_master_failover import HA_MASTER, SESSION_TIMEOUT

DEV = {"guarantees": {"cpus": 1.0}, "limits": {"cpus": 2.0, "mem": 512.0}}


def test_the_zookeeper_registry_keeps_quota(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        leader = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(leader.load)
        await leader.update_quota({"eng/dev": DEV, "web": {"guarantees": {}, "limits": {}}})
        await leader.update_quota({"web": None})
        standby = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        ahead = await asyncio.to_thread(standby.read)
        assert ahead.quota == {"eng/dev": DEV}
        elected = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        elected.warm(ahead)
        await asyncio.to_thread(elected.load)  # taken from the read-ahead snapshot
        assert elected.quota() == {"eng/dev": DEV}
        fresh = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(fresh.load)  # read from ZooKeeper
        assert fresh.quota() == {"eng/dev": DEV}

    run(main)


@pytest.fixture
def ha_pair(zookeeper: ZooKeeperSandbox, tmp_path: Path) -> Iterator[LocalCluster]:
    """Two masters contending in ZooKeeper and one agent following the leader."""
    with LocalCluster(
        agents=1,
        masters=2,
        zk=zookeeper.url,
        work_dir=tmp_path,
        agent_resources="cpus:4;mem:1024",
        master_flags=HA_MASTER,
    ) as cluster:
        yield cluster


def _leader_client(cluster: LocalCluster, old: str | None, timeout: float) -> OperatorClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            leader = cluster.leader()
            if leader.name != old:
                return OperatorClient(f"127.0.0.1:{leader.port}")
        except OperatorError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new leader within {timeout}s")
        time.sleep(0.1)


def test_quota_survives_a_master_failover_and_is_enforced_by_the_new_leader(
    ha_pair: LocalCluster,
) -> None:
    config = opb.QuotaConfig(role="eng/dev", guarantees={"cpus": 1}, limits={"cpus": 2, "mem": 512})
    with _leader_client(ha_pair, None, 30) as client:
        client.update_quota([config])
        before = list(client.get_quota())  # compared as messages: map order is not fixed
    old = ha_pair.leader()
    old.signal(signal.SIGKILL)
    with _leader_client(ha_pair, old.name, SESSION_TIMEOUT + 20) as client:
        assert list(client.get_quota()) == before
        roles = {r.name: r for r in client.get_roles().roles}
        assert dict(roles["eng/dev"].quota.limits) == {"cpus": 2, "mem": 512}
        with FrameworkHarness(ha_pair.master_address, name="dev", roles=["eng/dev"]) as fw:
            fw.wait(lambda: len(fw.tasks.offers_seen) >= 2, 60, "two offers")
            for offer in fw.tasks.offers_seen:
                offered = Resources.from_proto(offer.resources)
                assert offered.cpus <= 2 and offered.mem <= 512, offered
