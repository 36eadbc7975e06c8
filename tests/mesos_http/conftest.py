"""A real cluster whose master serves Mesos's v1 HTTP APIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import free_port
from mesospy.testing import LocalCluster
from mesospy.testing.fixtures import zookeeper, zookeeper_server

from .mesos_http_client import MesosHttp, http_master_flags


@pytest.fixture(scope="module")
def http_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, MesosHttp]]:
    """A master with its HTTP API on, and one agent."""
    work_dir: Path = tmp_path_factory.mktemp("mesos-http")
    port = free_port()
    with LocalCluster(
        agents=1,
        work_dir=work_dir,
        agent_resources="cpus:4;mem:2048;disk:4096;ports:[31000-31999]",
        master_flags=http_master_flags(port),
    ) as cluster:
        yield cluster, MesosHttp(port)


@pytest.fixture
def api(http_cluster: tuple[LocalCluster, MesosHttp]) -> MesosHttp:
    return http_cluster[1]


__all__ = ["api", "http_cluster", "zookeeper", "zookeeper_server"]
