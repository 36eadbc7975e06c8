"""Artifacts end to end on a real cluster: SDK and `mesospy run --fetch` through the
master to agent processes fetching from a real HTTP server on loopback."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.scheduler import is_terminal, task, uri
from mesospy.testing import FileServer, FrameworkHarness, LocalCluster
from mesospy.testing.cli import run_mesospy
from mesospy.v1 import common_pb2 as pb

R = pb.TaskStatus


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    with FileServer() as s:
        yield s


@pytest.fixture(scope="module")
def fetch_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("fetch"),
        agent_resources="cpus:4;mem:2048;disk:4096",
        master_flags=["--allocation-interval", "0.2"],
        agent_flags=["--fetcher-cache-size", "64MB", "--fetcher-max-size", "32MB"],
    ) as c:
        yield c


def _tool_tgz() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho tool says hi\n"
        info = tarfile.TarInfo("tool/run")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _mesospy(*args: str) -> subprocess.CompletedProcess[str]:
    return run_mesospy(*args)


def _final(fw: FrameworkHarness, task_id: str) -> pb.TaskStatus:
    fw.wait(lambda: is_terminal(fw.latest_states().get(task_id, 0)), what=f"{task_id} to end")
    return [s for s in fw.tasks.statuses if s.task_id == task_id][-1]


def test_sdk_tasks_fetch_through_the_master(
    fetch_cluster: LocalCluster, server: FileServer
) -> None:
    url = server.put("/sdk/tool.tgz", _tool_tgz())
    with FrameworkHarness(fetch_cluster.master_address, name="fetching") as fw:
        fw.submit(
            [
                task("a", "./tool/run", "cpus:0.1;mem:16", uris=[uri(url, cache=True)]),
                task("b", "./tool/run", "cpus:0.1;mem:16", uris=[uri(url, cache=True)]),
                task("bad", "true", "cpus:0.1;mem:16", uris=["s3://bucket/x.tgz"]),
            ]
        )
        assert _final(fw, "a").state == pb.TASK_FINISHED
        assert _final(fw, "b").state == pb.TASK_FINISHED
        bad = _final(fw, "bad")
        assert bad.state == pb.TASK_ERROR
        assert bad.reason == R.REASON_TASK_INVALID
        assert bad.source == R.SOURCE_MASTER
        assert "command.uris[0]" in bad.message and "'s3'" in bad.message
    assert server.requests["/sdk/tool.tgz"] == 1  # one agent, one cache: one download


def test_run_fetch_streams_the_fetched_tools_output(
    fetch_cluster: LocalCluster, server: FileServer
) -> None:
    url = server.put("/cli/tool.tgz", _tool_tgz())
    result = _mesospy(
        "run", "--master", fetch_cluster.master_address, "--fetch", url, "--", "./tool/run"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tool says hi\n"
    assert f"fetching {url} into tool.tgz" in result.stderr
    missing = _mesospy(
        "run",
        "--master",
        fetch_cluster.master_address,
        "--fetch",
        server.url("/cli/none.tgz"),
        "--",
        "true",
    )
    assert missing.returncode == 1
    assert "TASK_FAILED" in missing.stderr and "HTTP 404" in missing.stderr
    bad = _mesospy(
        "run", "--master", fetch_cluster.master_address, "--fetch", "ftp://x/y", "--", "true"
    )
    assert bad.returncode == 2
    assert "'ftp'" in bad.stderr


def test_agent_refuses_bad_fetcher_sizes(tmp_path: Path) -> None:
    result = _mesospy("agent", "--work-dir", str(tmp_path), "--fetcher-cache-size", "lots")
    assert result.returncode == 2
    assert "--fetcher-cache-size" in result.stderr and "'2GB'" in result.stderr
