"""A job with ``fetch:`` on a real cluster: the batch framework's tasks get their artifacts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from mesospy.testing import FileServer

from .support import BatchApi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "fetch-tool.yaml"


def _tool() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b'#!/bin/sh\necho "tool ran on $HOST"\n'
        info = tarfile.TarInfo("tool/run")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_fetch_example_job_runs_with_its_artifacts(api: BatchApi, tmp_path: Path) -> None:
    with FileServer() as server:
        url = server.put("/tool.tar.gz", _tool())
        spec = EXAMPLE.read_text().replace("http://127.0.0.1:8000/tool.tar.gz", url)
        assert url in spec  # the example still fetches a tarball
        out = tmp_path / "out"
        spec = spec.replace("head -1 host-release", f"head -1 host-release >> {out}")
        job = api.submit(spec)
        run = api.wait_run("fetch-tool", job.last_run.id, timeout=90)
        assert run.state == "SUCCEEDED", run.message
        assert len(out.read_text().splitlines()) == 4  # every instance had both artifacts
        # Cached per agent: at most one download per agent (the cluster has two).
        assert 1 <= server.requests["/tool.tar.gz"] <= 2
