"""Fixtures for the batch framework's tests: real clusters with the framework running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.testing.zookeeper import ZooKeeperServer

from .support import AGENT_RESOURCES, FAST_MASTER, BatchApi

BATCH_CLUSTER: dict[str, Any] = {
    "agents": 2,
    "agent_resources": AGENT_RESOURCES,
    "master_flags": FAST_MASTER,
    "frameworks": ["batch"],
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A master, two agents and the batch framework, shared by a module's tests."""
    with running_cluster(lambda: tmp_path_factory.mktemp("batch"), **BATCH_CLUSTER) as c:
        yield c


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> BatchApi:
    return BatchApi(cluster)


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of its own, for a test that kills things."""
    with running_cluster(lambda: tmp_path_factory.mktemp("own"), **BATCH_CLUSTER) as c:
        yield c


@pytest.fixture(scope="session")
def zookeeper_server() -> Iterator[ZooKeeperServer]:
    """One real ZooKeeper for the batch tests that need it."""
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server
