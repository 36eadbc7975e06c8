"""ZooKeeper digest auth and ACLs: with --zk-auth, another ZooKeeper client can read who
leads but can neither fake a leader nor touch the registry (real ZooKeeper, real master)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE

from mesospy.client import OperatorClient
from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperServer, _delete_tree

from .conftest import FAST_MASTER

AUTH = "mesospy:zk-s3cret"


@pytest.fixture(scope="module")
def zk_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server


@pytest.fixture(scope="module")
def zk_cluster(
    zk_server: ZooKeeperServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalCluster, str]]:
    path = f"/t-{uuid.uuid4().hex[:12]}"
    url = f"zk://{zk_server.hosts}{path}"
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("zk"),
        agent_resources="cpus:1;mem:256",
        zk=url,
        masters=1,
        master_flags=[*FAST_MASTER, "--zk-auth", AUTH],
    ) as cluster:
        yield cluster, path
    owner = zk_server.client(auth_data=[("digest", AUTH)])
    try:
        _delete_tree(owner, path)
    finally:
        owner.stop()
        owner.close()


def test_other_clients_can_read_but_not_write(
    zk_server: ZooKeeperServer, zk_cluster: tuple[LocalCluster, str]
) -> None:
    cluster, path = zk_cluster
    assert len(cluster.state().agents) == 1  # the agent found the leader without credentials
    for auth in ([], [("digest", "mesospy:wrong")], [("digest", "intruder:x")]):
        intruder = zk_server.client(auth_data=auth)
        try:
            children = intruder.get_children(path)  # reading is open: leader detection
            (leader,) = [c for c in children if c.startswith("json.info_")]
            fake = json.dumps({"address": {"ip": "10.6.6.6", "port": 5050}}).encode()
            with pytest.raises(NoAuthError):
                intruder.create(f"{path}/json.info_", fake, ephemeral=True, sequence=True)
            with pytest.raises(NoAuthError):
                intruder.delete(f"{path}/{leader}")
            with pytest.raises(NoAuthError):
                intruder.create(f"{path}/registry/agents/fake", b"{}")
            with pytest.raises(NoAuthError):
                intruder.set(f"{path}/registry/agents", b"x")
            with pytest.raises(NoAuthError):
                intruder.set_acls(path, list(OPEN_ACL_UNSAFE))
        finally:
            intruder.stop()
            intruder.close()
    assert len(cluster.state().agents) == 1  # the cluster keeps serving
    with OperatorClient(cluster.master_address) as client:
        assert client.get_flags()["zk-auth"] == "mesospy:***"  # never the password


def test_a_master_with_other_credentials_cannot_take_the_path(
    zk_server: ZooKeeperServer, zk_cluster: tuple[LocalCluster, str], tmp_path: object
) -> None:
    cluster, path = zk_cluster
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mesospy",
            "master",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path),
            "--zk",
            f"zk://{zk_server.hosts}{path}",
            "--zk-auth",
            "mesospy:wrong",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "protected by other ZooKeeper credentials" in result.stderr
    assert "mesospy:wrong" not in result.stderr
    assert len(cluster.state().agents) == 1
