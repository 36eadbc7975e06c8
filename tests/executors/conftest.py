"""A real cluster for the executor tests, and the test executor's ExecutorInfo."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.scheduler import executor
from mesospy.testing import LocalCluster
from mesospy.v1 import common_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
ECHO = Path(__file__).resolve().parent / "echo_executor.py"

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


def echo_executor(executor_id: str = "echo", resources: str = "cpus:0.1;mem:64") -> pb.ExecutorInfo:
    """The test executor (tests/executors/echo_executor.py) as an ExecutorInfo."""
    return executor(
        executor_id,
        [sys.executable, str(ECHO)],
        resources,
        env={"PYTHONPATH": str(ROOT)},
    )


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
