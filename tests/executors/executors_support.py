"""The test executor (echo_executor.py) as an ExecutorInfo."""

from __future__ import annotations

import sys
from pathlib import Path

from mesospy.scheduler import executor
from mesospy.v1 import common_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
ECHO = Path(__file__).resolve().parent / "echo_executor.py"


def echo_executor(executor_id: str = "echo", resources: str = "cpus:0.1;mem:64") -> pb.ExecutorInfo:
    """The test executor (tests/executors/echo_executor.py) as an ExecutorInfo."""
    return executor(
        executor_id,
        [sys.executable, str(ECHO)],
        resources,
        env={"PYTHONPATH": str(ROOT)},
    )
