"""The agent fetches a task's URIs into its sandbox before the task starts: a real agent,
a real HTTP server on loopback (``FileServer``), real archives and task processes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import pwd
import tarfile
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from test_agent_harness import Cluster, cluster, task, wait_for

from mesospy.cluster import free_port
from mesospy.security.certs import init_certificates
from mesospy.testing import FileServer
from mesospy.v1 import agent_pb2, common_pb2

R = common_pb2.TaskStatus
URI = common_pb2.CommandInfo.URI
MB = 1 << 20


def _tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _evil_tar(kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if kind in ("dotdot", "absolute"):
            info = tarfile.TarInfo("../../../../evil" if kind == "dotdot" else "/EVIL_PATH")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info = tarfile.TarInfo("escape")
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "../../../../evil" if kind == "symlink" else "/EVIL_PATH"
            tar.addfile(info)
            data = tarfile.TarInfo("escape")  # written through the link, if it were made
            data.size = 4
            tar.addfile(data, io.BytesIO(b"evil"))
    return buffer.getvalue()


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _fetching(task_id: str, shell: str, *uris: URI) -> common_pb2.TaskInfo:
    info = task(task_id, shell, resources="cpus:0.1;mem:32")
    info.command.uris.extend(uris)
    return info


def _sandbox(c: Cluster, task_id: str) -> Path:
    return c.agent.config.work_path / "frameworks" / "fw-1" / "tasks" / task_id


@asynccontextmanager
async def _setup(tmp_path: Path, **config: Any) -> AsyncIterator[tuple[Cluster, FileServer]]:
    with FileServer() as server:
        async with cluster(tmp_path / "agent", **config) as c:
            yield c, server


def test_each_archive_type_is_extracted_and_files_placed(tmp_path: Path) -> None:
    archives = {
        "app.tar": _tar_bytes({"tar/hello": b"from tar"}),
        "app.tar.gz": _tar_bytes({"gz/hello": b"from gz"}, "w:gz"),
        "app.tgz": _tar_bytes({"tgz/hello": b"from tgz"}, "w:gz"),
        "app.tar.bz2": _tar_bytes({"bz2/hello": b"from bz2"}, "w:bz2"),
        "app.tar.xz": _tar_bytes({"xz/hello": b"from xz"}, "w:xz"),
        "app.zip": _zip_bytes({"zip/hello": b"from zip"}),
    }
    local = tmp_path / "tool.sh"
    local.write_text("#!/bin/sh\necho tool ran\n")

    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            uris = [URI(value=server.put(f"/{name}", data)) for name, data in archives.items()]
            uris += [
                URI(value=f"file://{local}", executable=True),
                URI(value=server.put("/raw.tgz", archives["app.tgz"]), extract=False),
                URI(value=server.put("/dl?id=7", b"renamed"), output_file="conf/app.conf"),
                URI(value=str(local), output_file="plain-copy"),
            ]
            script = (
                "cat tar/hello gz/hello tgz/hello bz2/hello xz/hello zip/hello; echo; "
                "./tool.sh && cat conf/app.conf && test ! -e raw && test -f raw.tgz "
                "&& test -f plain-copy && test ! -x plain-copy"
            )
            await c.run(_fetching("unpack", script, *uris))
            status = await c.terminal("unpack")
            sandbox = _sandbox(c, "unpack")
            stderr = (sandbox / "stderr").read_text()
            assert status.state == common_pb2.TASK_FINISHED, (status.message, stderr)
            out = (sandbox / "stdout").read_text()
            assert "from tarfrom gzfrom tgzfrom bz2from xzfrom zip" in out
            assert "tool ran" in out and "renamed" in out
            assert os.access(sandbox / "tool.sh", os.X_OK)
            assert f"fetching {uris[0].value} into app.tar" in stderr
            assert "extracting app.zip" in stderr

    asyncio.run(scenario())


def test_cache_hit_makes_no_request_and_links_the_file(tmp_path: Path) -> None:
    data = os.urandom(256 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            uri = URI(value=server.put("/blob.bin", data), cache=True, checksum=digest)
            await c.run(_fetching("first", "cmp -s blob.bin blob.bin", uri))
            assert (await c.terminal("first")).state == common_pb2.TASK_FINISHED
            await c.run(_fetching("second", "test -f blob.bin", uri))
            assert (await c.terminal("second")).state == common_pb2.TASK_FINISHED
            assert server.requests["/blob.bin"] == 1
            first, second = (_sandbox(c, t) / "blob.bin" for t in ("first", "second"))
            assert first.read_bytes() == data
            assert first.stat().st_ino == second.stat().st_ino  # a hard link, not a copy
            assert "from the cache" in (_sandbox(c, "second") / "stderr").read_text()
            metrics = c.agent.metrics.text().decode()
            assert f"mesospy_agent_fetcher_cache_bytes {float(len(data))}" in metrics
            assert "mesospy_agent_fetcher_cache_hits_total 1.0" in metrics
            assert "mesospy_agent_fetcher_cache_downloads_total 1.0" in metrics
            # Not cached: fetched again.
            await c.run(_fetching("third", "true", URI(value=uri.value)))
            assert (await c.terminal("third")).state == common_pb2.TASK_FINISHED
            assert server.requests["/blob.bin"] == 2

    asyncio.run(scenario())


def test_failures_fail_the_task_with_the_cause_and_the_agent_keeps_serving(
    tmp_path: Path,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/gone.tar.gz"

    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            good = server.put("/good.txt", b"good")
            await c.run(
                _fetching("mismatch", "true", URI(value=good, checksum="sha256:" + "0" * 64)),
                _fetching("missing", "true", URI(value=server.url("/nope.tgz"))),
                _fetching("down", "true", URI(value=dead)),
                _fetching("badzip", "true", URI(value=server.put("/x.zip", b"not a zip"))),
                _fetching("nofile", "true", URI(value="/no/such/artifact.bin")),
            )
            expected = {
                "mismatch": "checksum mismatch: expected sha256:000",
                "missing": "HTTP 404",
                "down": "Connection refused",
                "badzip": "bad archive",
                "nofile": "No such file or directory",
            }
            for task_id, cause in expected.items():
                status = await c.terminal(task_id)
                assert status.state == common_pb2.TASK_FAILED, task_id
                assert status.reason == R.REASON_CONTAINER_LAUNCH_FAILED
                assert "fetch of " in status.message and cause in status.message, status.message
                stderr = (_sandbox(c, task_id) / "stderr").read_text()
                assert cause in stderr
            assert (
                "got sha256:" + hashlib.sha256(b"good").hexdigest()
                in (await c.terminal("mismatch")).message
            )
            # The agent still runs tasks, fetching ones too.
            await c.run(_fetching("after", "cat good.txt", URI(value=good)))
            assert (await c.terminal("after")).state == common_pb2.TASK_FINISHED

    asyncio.run(scenario())


def test_invalid_uris_are_task_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _setup(tmp_path) as (c, _server):
            await c.run(
                _fetching("scheme", "true", URI(value="ftp://127.0.0.1/x")),
                _fetching("empty", "true", URI(value="")),
                _fetching("sum", "true", URI(value="/bin/true", checksum="md5:abc")),
            )
            for task_id, needle in (("scheme", "'ftp'"), ("empty", "empty"), ("sum", "sha256")):
                status = await c.terminal(task_id)
                assert status.state == common_pb2.TASK_ERROR
                assert status.reason == R.REASON_TASK_INVALID
                assert needle in status.message

    asyncio.run(scenario())


def test_escaping_archives_fail_and_write_nothing_outside(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            kinds = ("dotdot", "absolute", "symlink", "hardlink")
            await c.run(
                *(
                    _fetching(k, "true", URI(value=server.put(f"/{k}.tar", _evil_tar(k))))
                    for k in kinds
                )
            )
            for kind in kinds:
                status = await c.terminal(kind)
                assert status.state == common_pb2.TASK_FAILED, kind
                assert status.reason == R.REASON_CONTAINER_LAUNCH_FAILED
                assert f"{kind}.tar failed" in status.message
                sandbox = _sandbox(c, kind)
                # "../../../../evil" from the sandbox, and the absolute path.
                assert not (sandbox.parents[3] / "evil").exists()
                assert not os.path.lexists(sandbox / "escape")
            assert not Path("/EVIL_PATH").exists()
            messages = {k: (await c.terminal(k)).message for k in kinds}
            assert "'..'" in messages["dotdot"]
            assert "absolute" in messages["absolute"]
            assert "points outside" in messages["symlink"]
            assert "hard link" in messages["hardlink"]

    asyncio.run(scenario())


def test_archive_bomb_and_oversized_download_are_refused(tmp_path: Path) -> None:
    bomb = _tar_bytes({"zeros": bytes(16 * MB)}, "w:gz")
    assert len(bomb) < MB

    async def scenario() -> None:
        async with _setup(tmp_path, fetcher_max_size=2 * MB) as (c, server):
            await c.run(
                _fetching("bomb", "true", URI(value=server.put("/bomb.tar.gz", bomb))),
                _fetching("big", "true", URI(value=server.put("/big.bin", bytes(3 * MB)))),
            )
            bombed = await c.terminal("bomb")
            assert bombed.state == common_pb2.TASK_FAILED
            assert "more than 2097152 bytes" in bombed.message
            assert not (_sandbox(c, "bomb") / "zeros").exists()
            big = await c.terminal("big")
            assert big.state == common_pb2.TASK_FAILED
            assert "--fetcher-max-size" in big.message
            assert not (_sandbox(c, "big") / "big.bin").exists()

    asyncio.run(scenario())


def test_concurrent_fetches_of_one_uri_download_once(tmp_path: Path) -> None:
    data = os.urandom(512 * 1024)

    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            url = server.put("/shared.bin", data)
            server.hold("/shared.bin")  # the first download waits: the others must wait too
            ids = [f"t{i}" for i in range(5)]
            uri = URI(value=url, cache=True)
            await c.run(*(_fetching(i, "cmp -s shared.bin shared.bin", uri) for i in ids))
            await asyncio.to_thread(server.wait_for_request, "/shared.bin")
            # One downloads (held half-way); the other four wait for it.
            await wait_for(lambda: c.agent.fetcher.cache.waiters == 4, what="4 waiting fetches")
            server.release()
            for task_id in ids:
                status = await c.terminal(task_id)
                assert status.state == common_pb2.TASK_FINISHED, status.message
                assert (_sandbox(c, task_id) / "shared.bin").read_bytes() == data
            assert server.requests["/shared.bin"] == 1
            assert c.agent.fetcher.cache.downloads == 1

    asyncio.run(scenario())


def test_kill_during_fetch_ends_killed_promptly(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            url = server.put("/slow.bin", bytes(4 * MB))
            server.hold("/slow.bin")
            await c.run(_fetching("slow", "echo started", URI(value=url)))
            await asyncio.to_thread(server.wait_for_request, "/slow.bin")
            loop = asyncio.get_running_loop()
            began = loop.time()
            await c.stub.KillTask(agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="slow"))
            status = await c.terminal("slow", timeout=10)
            assert loop.time() - began < 5
            assert status.state == common_pb2.TASK_KILLED
            assert status.reason == R.REASON_TASK_KILLED_DURING_LAUNCH
            assert (_sandbox(c, "slow") / "stdout").read_text() == ""
            assert "stopped: the task was killed" in (_sandbox(c, "slow") / "stderr").read_text()

    asyncio.run(scenario())


def test_https_is_verified_with_the_default_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = init_certificates(tmp_path / "tls")

    async def scenario(task_id: str) -> common_pb2.TaskStatus:
        with FileServer(tls=(issued.server_cert, issued.server_key)) as server:
            url = server.put("/secure.txt", b"secret")
            assert url.startswith("https://127.0.0.1:")
            async with cluster(tmp_path / task_id) as c:
                await c.run(_fetching(task_id, "cat secure.txt", URI(value=url)))
                return await c.terminal(task_id)

    untrusted = asyncio.run(scenario("untrusted"))
    assert untrusted.state == common_pb2.TASK_FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.message
    monkeypatch.setenv("SSL_CERT_FILE", str(issued.ca_cert))  # the agent trusts the test CA
    trusted = asyncio.run(scenario("trusted"))
    assert trusted.state == common_pb2.TASK_FINISHED, trusted.message


def test_agent_stop_during_a_fetch_does_not_wait_for_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FileServer() as server:
            url = server.put("/stuck.bin", bytes(MB))
            server.hold("/stuck.bin")
            loop = asyncio.get_running_loop()
            async with cluster(tmp_path / "agent") as c:
                await c.run(_fetching("stuck", "true", URI(value=url)))
                await asyncio.to_thread(server.wait_for_request, "/stuck.bin")
                began = loop.time()
            assert loop.time() - began < 5  # the agent stopped without the download
            assert not (_sandbox(c, "stuck") / "stuck.bin").exists()

    asyncio.run(scenario())


def test_a_task_of_another_user_owns_what_was_fetched_but_not_the_cache(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this test needs root, as the agent's user switching does"
    nobody = pwd.getpwnam("nobody")

    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            archive = URI(value=server.put("/app.tgz", _tar_bytes({"app/data": b"v1\n"}, "w:gz")))
            blob = URI(value=server.put("/blob.txt", b"shared\n"), cache=True)
            script = (
                'test "$(id -un)" = nobody && echo v2 >> app/data && cat blob.txt '
                "&& ! (echo x >> blob.txt) 2>/dev/null"
            )
            info = _fetching("mine", script, archive, blob)
            info.command.user = "nobody"
            await c.run(info)
            status = await c.terminal("mine")
            sandbox = _sandbox(c, "mine")
            assert status.state == common_pb2.TASK_FINISHED, (sandbox / "stderr").read_text()
            assert (sandbox / "app" / "data").read_text() == "v1\nv2\n"
            assert (sandbox / "app" / "data").stat().st_uid == nobody.pw_uid
            assert (sandbox / "app").stat().st_uid == nobody.pw_uid
            # The cached file is shared with other sandboxes: root's, read-only.
            assert (sandbox / "blob.txt").stat().st_uid == 0
            assert (sandbox / "blob.txt").read_text() == "shared\n"

    asyncio.run(scenario())


def test_loopback_is_fetched_without_the_environments_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that is not there: a fetch that went through it would fail.
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("no_grpc_proxy", "127.0.0.1,localhost")  # gRPC reads http_proxy too

    async def scenario() -> None:
        async with _setup(tmp_path) as (c, server):
            await c.run(_fetching("direct", "cat f.txt", URI(value=server.put("/f.txt", b"ok"))))
            assert (await c.terminal("direct")).state == common_pb2.TASK_FINISHED

    asyncio.run(scenario())


def test_progress_of_a_large_artifact_goes_to_stderr(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(130 * MB)  # sparse: read as zeros without being written first

    async def scenario() -> None:
        async with _setup(tmp_path, fetcher_max_size=256 * MB) as (c, _server):
            await c.run(_fetching("big", "test -s big.bin", URI(value=str(big))))
            assert (await c.terminal("big")).state == common_pb2.TASK_FINISHED
            stderr = (_sandbox(c, "big") / "stderr").read_text()
            assert f"64 MB of 130 MB of {big}" in stderr
            assert f"128 MB of 130 MB of {big}" in stderr
            (_sandbox(c, "big") / "big.bin").unlink()

    asyncio.run(scenario())
