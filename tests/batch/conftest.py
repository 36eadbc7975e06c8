"""Fixtures for the batch framework's tests: real clusters with the framework running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperServer

from .support import AGENT_RESOURCES, FAST_MASTER, BatchApi


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A master, two agents and the batch framework, shared by a module's tests."""
    with LocalCluster(
        agents=2,
        work_dir=tmp_path_factory.mktemp("batch"),
        agent_resources=AGENT_RESOURCES,
        master_flags=FAST_MASTER,
        frameworks=["batch"],
    ) as c:
        yield c


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> BatchApi:
    return BatchApi(cluster)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own, for a test that kills things."""
    with LocalCluster(
        agents=2,
        work_dir=tmp_path,
        agent_resources=AGENT_RESOURCES,
        master_flags=FAST_MASTER,
        frameworks=["batch"],
    ) as c:
        yield c


@pytest.fixture(scope="session")
def zookeeper_server() -> Iterator[ZooKeeperServer]:
    """One real ZooKeeper for the batch tests that need it."""
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server
