"""Fixtures of the service framework's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesospy.cluster import LocalCluster
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
