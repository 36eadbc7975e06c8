"""Sandbox garbage collection on a real agent: ended tasks' sandboxes go after --gc-delay,
running tasks' stay."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
import pytest
from test_agent_harness import cluster, task, wait_for

from mesospy.agent.sandbox import sandbox_dir
from mesospy.v1 import agent_pb2


def test_an_ended_tasks_sandbox_is_removed_and_a_running_ones_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, gc_delay=0.5, disk_watch_interval=0.1) as c:
            await c.run(task("done", "echo bye"))
            await c.run(task("long", "echo hi; sleep 30"))
            await c.terminal("done")
            ended = sandbox_dir(tmp_path, "fw-1", "done")
            running = sandbox_dir(tmp_path, "fw-1", "long")
            assert (ended / "stdout").read_text() == "bye\n"
            await wait_for(lambda: c.agent.sandbox_gc.removed == 1, what="a sandbox removed")
            assert not ended.exists()
            # Not written for longer than the delay, but its task runs: it stays.
            os.utime(running, (0, 0))
            os.utime(running / "stdout", (0, 0))
            await c.agent.sandbox_gc.collect()
            assert (running / "stdout").read_text() == "hi\n"
            assert c.agent.sandbox_gc.removed == 1
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await c.stub.ReadFile(
                    agent_pb2.ReadFileRequest(framework_id="fw-1", task_id="done", path="stdout")
                )
            assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    asyncio.run(scenario())


def test_the_default_delay_keeps_sandboxes(tmp_path: Path) -> None:
    async def scenario() -> None:
        # No headroom: even on a nearly full disk the week's delay is not all used up.
        async with cluster(tmp_path, disk_watch_interval=0.1, gc_disk_headroom=0.0) as c:
            await c.run(task("done", "echo bye"))
            await c.terminal("done")
            await wait_for(lambda: ("fw-1", "done") not in c.agent.tasks.tasks, what="forgotten")
            await c.agent.sandbox_gc.collect()
            assert (sandbox_dir(tmp_path, "fw-1", "done") / "stdout").read_text() == "bye\n"

    asyncio.run(scenario())
