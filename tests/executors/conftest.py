"""A real cluster for the executor tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesospy.testing import LocalCluster

FAST_MASTER = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "0.5",
    "--max-agent-ping-timeouts",
    "3",
    "--framework-heartbeat-interval",
    "2",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A master and one agent shared by the tests of a module."""
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("cluster"),
        agent_resources="cpus:8;mem:4096;disk:4096;ports:[31000-31999]",
        master_flags=FAST_MASTER,
    ) as c:
        yield c
