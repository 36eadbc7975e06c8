"""The agent runs real processes and reports how they end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_agent_harness import cluster, task

from mesospy.v1 import common_pb2

R = common_pb2.TaskStatus


def test_finished_and_failed_exit_codes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("ok", "exit 0"), task("bad", "exit 3"))
            ok = await c.terminal("ok")
            bad = await c.terminal("bad")
            assert c.master.states("ok") == ["TASK_RUNNING", "TASK_FINISHED"]
            assert ok.exit_code == 0
            assert bad.state == common_pb2.TASK_FAILED
            assert bad.exit_code == 3
            assert bad.message == "exited with status 3"
            assert bad.source == R.SOURCE_AGENT
            assert bad.agent_id == "agent-1"
            assert len(bad.uuid) == 16

    asyncio.run(scenario())
