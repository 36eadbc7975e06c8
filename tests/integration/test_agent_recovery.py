"""An agent restarted on the same work_dir takes its tasks and unacknowledged updates back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from test_agent_harness import FakeMaster, cluster, task, wait_for

from mesospy.v1 import agent_pb2, common_pb2

WAIT_FOR_GO = "while [ ! -f go ]; do sleep 0.05; done"


def test_restart_readopts_running_tasks_and_resends_updates(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = FakeMaster(auto_ack=False)
        async with cluster(
            tmp_path, first, status_update_retry_min=30, kill_tasks_on_exit=False
        ) as c:
            await c.run(task("done", "exit 0"), task("live", WAIT_FOR_GO))
            await wait_for(lambda: len(first.updates) == 2, what="two RUNNING updates")
            await wait_for(lambda: c.agent.tasks.tasks[("fw-1", "done")].terminal, what="exit")
            sent_before = {u.status.task_id: u.status.uuid for u in first.updates}

        second = FakeMaster(auto_ack=True)
        async with cluster(tmp_path, second, kill_tasks_on_exit=True) as c:
            rereg = second.registrations[0]
            assert isinstance(rereg, agent_pb2.ReregisterAgentRequest)
            assert rereg.agent_info.id == "agent-1"
            states = {t.task_id: t.state for t in rereg.tasks}
            assert states == {"done": common_pb2.TASK_FINISHED, "live": common_pb2.TASK_RUNNING}
            assert [f.id for f in rereg.frameworks] == ["fw-1"]
            # The unacknowledged RUNNING updates come again, unchanged, then FINISHED.
            done = await c.terminal("done")
            assert second.statuses("done")[0].uuid == sent_before["done"]
            assert second.states("done") == ["TASK_RUNNING", "TASK_FINISHED"]
            assert done.state == common_pb2.TASK_FINISHED
            # The re-adopted task is still watched: when it ends, it is reported.
            (tmp_path / "frameworks" / "fw-1" / "tasks" / "live" / "go").touch()
            live = await c.terminal("live")
            assert live.state in (common_pb2.TASK_FINISHED, common_pb2.TASK_FAILED)
            await wait_for(lambda: not c.agent.tasks.tasks, what="all forgotten")

        third = FakeMaster()
        async with cluster(tmp_path, third) as c:
            assert list(third.registrations[0].tasks) == []

    asyncio.run(scenario())


def test_kill_after_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, kill_tasks_on_exit=False) as c:
            await c.run(task("live", "sleep 30"))
            await wait_for(lambda: c.master.states("live"), what="running")
        async with cluster(tmp_path) as c:
            await c.stub.KillTask(agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="live"))
            status = await c.terminal("live")
            assert status.state == common_pb2.TASK_KILLED

    asyncio.run(scenario())


def test_task_started_but_not_yet_reported_is_reported_running_after_restart(
    tmp_path: Path,
) -> None:
    """An agent killed after it checkpointed a task's pid but before its TASK_RUNNING
    update reached the log: the restarted agent re-adopts the process and says RUNNING,
    or the master keeps the task STAGING for good (found by the chaos test)."""

    async def scenario() -> None:
        async with cluster(tmp_path, kill_tasks_on_exit=False) as c:
            await c.run(task("live", "sleep 30"))
            await wait_for(lambda: c.master.states("live"), what="running")
        log = tmp_path / "meta" / "checkpoint.log"
        lines = log.read_text().splitlines()
        kept = [line for line in lines if json.loads(line)["k"] not in ("upd", "ack")]
        assert len(kept) < len(lines), lines  # the RUNNING update and its ack are gone
        log.write_text("".join(line + "\n" for line in kept))

        second = FakeMaster(auto_ack=True)
        async with cluster(tmp_path, second) as c:
            await wait_for(lambda: second.states("live"), what="an update of the re-adopted task")
            assert second.states("live") == ["TASK_RUNNING"]
            await c.stub.KillTask(agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="live"))
            assert (await c.terminal("live")).state == common_pb2.TASK_KILLED

    asyncio.run(scenario())
