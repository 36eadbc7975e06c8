"""Fixtures of the service framework's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesospy.cluster import LocalCluster, free_port
from mesospy.testing.clusters import running_cluster

from .support import HOSTS


def _racked_agents(cluster: LocalCluster) -> None:
    for index, host in enumerate(HOSTS):
        zone = "zone-a" if index < 2 else "zone-b"
        cluster.agent_flags = [
            "--hostname",
            host,
            "--attributes",
            f"rack_id:rack-{index + 1};zone:{zone}",
        ]
        cluster.add_agent(f"cpus:2;mem:1024;ports:[{30600 + 100 * index}-{30699 + 100 * index}]")


@pytest.fixture(scope="module")
def racked_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The service framework and four agents on the four hostnames of HOSTS, racks
    rack-1..rack-4, zones zone-a (the first two) and zone-b."""
    with running_cluster(
        lambda: tmp_path_factory.mktemp("racked"),
        prepare=_racked_agents,
        agents=0,
        master_flags=["--allocation-interval", "0.2"],
        frameworks=["service"],
    ) as c:
        yield c


def _with_marathon_api(cluster: LocalCluster) -> None:
    for index in range(2):
        first = 32500 + 100 * index
        cluster.add_agent(f"cpus:2;mem:1024;ports:[{first}-{first + 99}]")
    port = free_port()
    cluster.add_framework("service", extra_args=["--marathon-api-port", str(port)])
    cluster.marathon_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def marathon_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Two agents and the service framework with its Marathon API (``marathon_url``)."""
    with running_cluster(
        lambda: tmp_path_factory.mktemp("marathon-api"),
        prepare=_with_marathon_api,
        agents=0,
        master_flags=["--allocation-interval", "0.2"],
    ) as c:
        yield c
