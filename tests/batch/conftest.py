"""Fixtures for the batch framework's tests: real clusters with the framework running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mesospy.cluster import ClusterError
from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperServer

from .support import AGENT_RESOURCES, FAST_MASTER, BatchApi


def _nothing(attempt: int) -> dict[str, Any]:
    return {}


@contextmanager
def running_cluster(
    work_dir: Callable[[], Path],
    per_attempt: Callable[[int], dict[str, Any]] = _nothing,
    **options: Any,
) -> Iterator[LocalCluster]:
    """A started LocalCluster; tried again (in a fresh directory, with ``per_attempt``'s
    options) if it loses a race for a free port with other processes on the machine."""
    for attempt in (1, 2, 3):
        cluster = LocalCluster(work_dir=work_dir(), **options, **per_attempt(attempt))
        try:
            cluster.start()
        except ClusterError:
            cluster.stop()
            if attempt == 3:
                raise
            continue
        try:
            yield cluster
        finally:
            cluster.stop()
        return


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
