"""The agent's session with the master: commands that come on it rather than as calls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_agent_harness import FRAMEWORK, FakeMaster, cluster, task, wait_for

from mesospy.v1 import agent_pb2, common_pb2


async def _command(master: FakeMaster, message: agent_pb2.MasterMessage) -> None:
    assert master.send is not None, "the agent opened no session"
    await master.send(message)


def test_run_and_kill_tasks_sent_on_the_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            run = agent_pb2.RunTasksRequest(
                framework_info=FRAMEWORK,
                tasks=[task("quick", "true"), task("slow", "sleep 60")],
            )
            await _command(c.master, agent_pb2.MasterMessage(run_tasks=run))
            assert (await c.terminal("quick")).state == common_pb2.TASK_FINISHED
            await wait_for(lambda: "TASK_RUNNING" in c.master.states("slow"), what="slow runs")
            kill = agent_pb2.KillTaskRequest(framework_id=FRAMEWORK.id, task_id="slow")
            await _command(c.master, agent_pb2.MasterMessage(kill_task=kill))
            assert (await c.terminal("slow")).state == common_pb2.TASK_KILLED

    asyncio.run(scenario())


def test_a_refused_run_tasks_on_the_session_reports_its_tasks_dropped(tmp_path: Path) -> None:
    # No call to answer with an error: the agent says what became of the tasks, as a
    # Mesos agent does, with a status update each (and starts none of them).
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            run = agent_pb2.RunTasksRequest(
                framework_info=FRAMEWORK,
                tasks=[task("mine", "true"), task("theirs", "true", agent_id="someone-else")],
            )
            await _command(c.master, agent_pb2.MasterMessage(run_tasks=run))
            for task_id in ("mine", "theirs"):
                status = await c.terminal(task_id)
                assert status.state == common_pb2.TASK_DROPPED, status
                assert "meant for agent 'someone-else'" in status.message
            assert c.master.states("mine") == ["TASK_DROPPED"]
            assert not (tmp_path / "frameworks" / FRAMEWORK.id / "tasks" / "mine").exists()

    asyncio.run(scenario())


def test_shutdown_framework_sent_on_the_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("a", "sleep 60"), task("b", "sleep 60"))
            await wait_for(
                lambda: all("TASK_RUNNING" in c.master.states(t) for t in ("a", "b")),
                what="both running",
            )
            shutdown = agent_pb2.ShutdownFrameworkRequest(framework_id=FRAMEWORK.id)
            await _command(c.master, agent_pb2.MasterMessage(shutdown_framework=shutdown))
            for task_id in ("a", "b"):
                assert (await c.terminal(task_id)).state == common_pb2.TASK_KILLED

    asyncio.run(scenario())
