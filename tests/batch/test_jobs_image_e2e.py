"""A job with ``container:`` on a real cluster: its instances run in an image pulled from a
real registry, with their fetched artifact in the sandbox."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from mesospy.testing import FileServer
from mesospy.testing.registry import Registry, busybox_image

from .support import BatchApi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "image-job.yaml"


def _tool() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b'#!/bin/sh\necho "tool ran as pid $$"\n'
        info = tarfile.TarInfo("tool/run")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_image_example_job_runs_in_its_image(api: BatchApi, tmp_path: Path) -> None:
    with Registry(tmp_path / "registry") as registry, FileServer() as server:
        registry.push("mesospy/busybox", "1", busybox_image(os_id="job-image"))
        url = server.put("/tool.tar.gz", _tool())
        spec = EXAMPLE.read_text()
        assert "127.0.0.1:5000/mesospy/busybox:1" in spec
        spec = spec.replace("127.0.0.1:5000", registry.host)
        spec = spec.replace("http://127.0.0.1:8000/tool.tar.gz", url)
        spec = spec.replace(
            "$MESOS_SANDBOX/tool/run", "$MESOS_SANDBOX/tool/run > $MESOS_SANDBOX/result"
        )
        job = api.submit(spec)
        run = api.wait_run("image-job", job.last_run.id, timeout=90)
        assert run.state == "SUCCEEDED", run.message
        assert api.cluster.work_dir is not None
        results = list(api.cluster.work_dir.glob("agent-*/frameworks/*/tasks/*/result"))
        assert len(results) == 2
        for result in results:
            # The fetched tool ran in the task's own PID namespace (its shell is pid 1).
            assert result.read_text() in ("tool ran as pid 1\n", "tool ran as pid 2\n")
            assert "ID=job-image" in (result.parent / "stdout").read_text()
