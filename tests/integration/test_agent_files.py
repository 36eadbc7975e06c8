"""ReadFile serves a task's sandbox, and nothing outside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from test_agent_harness import cluster, task, wait_for

from mesospy.v1 import agent_pb2


def _read(path: str, task_id: str = "t", **fields: int) -> agent_pb2.ReadFileRequest:
    return agent_pb2.ReadFileRequest(framework_id="fw-1", task_id=task_id, path=path, **fields)


def test_read_stdout_with_offsets_after_the_task_ended(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("t", "printf hello-world; printf oops >&2"))
            await c.terminal("t")
            await wait_for(lambda: ("fw-1", "t") not in c.agent.tasks.tasks, what="forgotten")
            whole = await c.stub.ReadFile(_read("stdout"))
            assert (whole.data, whole.size, whole.offset) == (b"hello-world", 11, 0)
            assert whole.task_terminal
            part = await c.stub.ReadFile(_read("stdout", offset=6, length=3))
            assert (part.data, part.offset) == (b"wor", 6)
            past = await c.stub.ReadFile(_read("stdout", offset=100))
            assert past.data == b""
            assert (await c.stub.ReadFile(_read("stderr"))).data == b"oops"

    asyncio.run(scenario())


def test_running_task_is_not_terminal(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("t", "echo started; sleep 30"))
            await wait_for(lambda: c.master.states("t"), what="running")
            response = await c.stub.ReadFile(_read("stdout"))
            assert not response.task_terminal

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("../../../../etc/passwd", grpc.StatusCode.PERMISSION_DENIED, "outside"),
        ("sub/../../other/stdout", grpc.StatusCode.PERMISSION_DENIED, "outside"),
        ("/etc/passwd", grpc.StatusCode.INVALID_ARGUMENT, "absolute"),
        ("escape", grpc.StatusCode.PERMISSION_DENIED, "outside"),
        ("", grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        ("missing", grpc.StatusCode.NOT_FOUND, "missing"),
        ("sub", grpc.StatusCode.INVALID_ARGUMENT, "directory"),
    ],
)
def test_paths_outside_the_sandbox_are_refused(
    tmp_path: Path, path: str, code: grpc.StatusCode, words: str
) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("t", "mkdir sub && ln -s /etc/passwd escape"), task("other", "true"))
            await c.terminal("t")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await c.stub.ReadFile(_read(path))
            assert caught.value.code() == code
            assert words in (caught.value.details() or "")

    asyncio.run(scenario())


def test_unknown_task_is_not_found(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await c.stub.ReadFile(_read("stdout", task_id="ghost"))
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    asyncio.run(scenario())
