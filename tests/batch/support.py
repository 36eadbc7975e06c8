"""Helpers for the batch framework's tests: its API as a test uses it, and polling."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import grpc

from frameworks.batch.cli import find_batch
from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from mesospy.testing import LocalCluster
from mesospy.testing.cli import run_mesospy

T = TypeVar("T")
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED")

# Short heartbeats and allocation cycles, so that tests do not wait on the defaults.
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
AGENT_RESOURCES = "cpus:4;mem:2048;disk:4096;ports:[31000-31999]"


def mesospy(
    cluster: LocalCluster, *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """``mesospy ARGS`` as a user runs it, against ``cluster``'s master."""
    return run_mesospy(*args, master=cluster.master_address, timeout=timeout)


def eventually(check: Callable[[], T | None], timeout: float = 60.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except grpc.RpcError as exc:  # the framework may be restarting
            last_error = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({last_error})")


class BatchApi:
    """The batch framework's API, found through the master as the CLI finds it."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self._address = ""
        self._stub: batch_pb2_grpc.BatchStub | None = None

    @property
    def stub(self) -> batch_pb2_grpc.BatchStub:
        address = find_batch(self.cluster.master_address)
        if self._stub is None or address != self._address:
            channel = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
            self._stub = batch_pb2_grpc.BatchStub(channel)  # type: ignore[no-untyped-call]
            self._address = address
        return self._stub

    def submit(self, spec: str, no_run: bool = False) -> bpb.Job:
        job: bpb.Job = self.stub.SubmitJob(
            bpb.SubmitJobRequest(spec=spec, no_run=no_run), timeout=15
        )
        return job

    def run(self, name: str, **params: str) -> bpb.Run:
        run: bpb.Run = self.stub.RunJob(bpb.RunJobRequest(name=name, params=params), timeout=15)
        return run

    def runs(self, name: str) -> list[bpb.Run]:
        answer = self.stub.ListRuns(bpb.ListRunsRequest(name=name), timeout=15)
        return list(answer.runs)

    def get_run(self, name: str, run_id: str = "") -> bpb.Run:
        run: bpb.Run = self.stub.GetRun(bpb.GetRunRequest(name=name, run_id=run_id), timeout=15)
        return run

    def job(self, name: str) -> bpb.Job:
        job: bpb.Job = self.stub.GetJob(bpb.GetJobRequest(name=name), timeout=15)
        return job

    def delete(self, name: str) -> None:
        self.stub.DeleteJob(bpb.DeleteJobRequest(name=name), timeout=15)

    def wait_run(self, name: str, run_id: str, timeout: float = 60.0) -> bpb.Run:
        """The run once it has ended."""

        def ended() -> bpb.Run | None:
            run = self.get_run(name, run_id)
            return run if run.state in FINAL else None

        return eventually(ended, timeout, f"run {run_id} of {name} to end")
