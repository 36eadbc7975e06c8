"""Fixtures that start real clusters (master and agent processes on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.testing import LocalCluster
from mesospy.testing.clusters import fast_master_flags

# Short heartbeats so that a lost agent is noticed within a test's patience.
FAST_MASTER = fast_master_flags()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A master and two agents shared by the tests of one module."""
    work_dir: Path = tmp_path_factory.mktemp("cluster")
    with LocalCluster(
        agents=2,
        work_dir=work_dir,
        agent_resources="cpus:4;mem:2048;disk:4096;ports:[31000-31999]",
        master_flags=FAST_MASTER,
    ) as c:
        yield c


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own for a test that breaks things (kills agents...)."""
    with LocalCluster(
        agents=2,
        work_dir=tmp_path,
        agent_resources="cpus:2;mem:1024;disk:1024;ports:[31000-31999]",
        master_flags=FAST_MASTER,
    ) as c:
        yield c
