"""Status updates reach the master in order, one in flight per task, until acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from test_agent_harness import FakeMaster, cluster, task, wait_for

from mesospy.v1 import agent_pb2, common_pb2


def _ack(update: agent_pb2.StatusUpdate) -> agent_pb2.AcknowledgeUpdatesRequest:
    return agent_pb2.AcknowledgeUpdatesRequest(
        acks=[
            agent_pb2.AcknowledgeUpdatesRequest.Ack(
                framework_id=update.framework_id,
                task_id=update.status.task_id,
                uuid=update.status.uuid,
            )
        ]
    )


def test_in_order_delivery_waits_for_acks(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = FakeMaster(auto_ack=False)
        async with cluster(tmp_path, master, status_update_retry_min=30) as c:
            await c.run(task("t", "exit 0"))
            await wait_for(lambda: c.master.updates, what="the first update")
            # The task has finished by now, but only RUNNING is in flight until acked.
            await wait_for(lambda: c.agent.updates.streams.latest_state(("fw-1", "t")) == 5)
            first = c.master.updates[0]
            assert first.status.state == common_pb2.TASK_RUNNING
            assert len(c.master.updates) == 1
            await c.stub.AcknowledgeUpdates(_ack(first))
            await wait_for(lambda: len(c.master.updates) == 2, what="the second update")
            second = c.master.updates[1]
            assert second.status.state == common_pb2.TASK_FINISHED
            assert second.latest_state == common_pb2.TASK_FINISHED
            assert ("fw-1", "t") in c.agent.tasks.tasks
            await c.stub.AcknowledgeUpdates(_ack(second))
            # Terminal and acknowledged: the task is forgotten, its sandbox is kept.
            await wait_for(lambda: ("fw-1", "t") not in c.agent.tasks.tasks, what="forgotten")
            assert (tmp_path / "frameworks" / "fw-1" / "tasks" / "t" / "stdout").exists()

    asyncio.run(scenario())


def test_unacknowledged_updates_are_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = FakeMaster(auto_ack=False)
        async with cluster(tmp_path, master, status_update_retry_min=0.1) as c:
            await c.run(task("t", "sleep 30"))
            await wait_for(lambda: len(c.master.updates) >= 3, what="retries")
            uuids = {u.status.uuid for u in c.master.updates}
            assert len(uuids) == 1  # the same update, resent
            # A stale or wrong ack changes nothing.
            wrong = _ack(c.master.updates[0])
            wrong.acks[0].uuid = b"x" * 16
            await c.stub.AcknowledgeUpdates(wrong)
            assert ("fw-1", "t") in c.agent.updates.streams

    asyncio.run(scenario())


def test_updates_are_batched(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(*[task(f"t{i}", "true") for i in range(200)])
            await wait_for(
                lambda: all(c.master.terminal(f"t{i}") for i in range(200)), what="200 tasks"
            )
            assert c.master.batches < 200
            await wait_for(lambda: not c.agent.tasks.tasks, what="all forgotten")

    asyncio.run(scenario())


def test_updates_wait_out_a_master_outage_and_are_resent(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = FakeMaster(heartbeat=0.1)
        async with cluster(tmp_path, master, status_update_retry_min=30) as c:
            # The task ends during the outage (launches are refused while re-registering).
            await c.run(task("t", "while [ ! -e go ]; do sleep 0.05; done"))
            master.unavailable = True
            await wait_for(lambda: not c.agent.registered.is_set(), what="agent notices")
            (tmp_path / "frameworks" / "fw-1" / "tasks" / "t" / "go").touch()
            await wait_for(lambda: c.agent.tasks.tasks[("fw-1", "t")].terminal, what="exit")
            registrations = len(master.registrations)
            master.unavailable = False
            # Re-registered (with the task), then the updates go out at once, not after 30 s.
            await c.terminal("t", timeout=10)
            assert len(master.registrations) == registrations + 1
            rereg = master.registrations[-1]
            assert isinstance(rereg, agent_pb2.ReregisterAgentRequest)
            assert [t.task_id for t in rereg.tasks] == ["t"]
            assert rereg.tasks[0].state == common_pb2.TASK_FINISHED
            assert [f.id for f in rereg.frameworks] == ["fw-1"]

    asyncio.run(scenario())


def test_heartbeat_reregister_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = FakeMaster(heartbeat=0.1)
        async with cluster(tmp_path, master) as c:
            await c.run(task("long", "sleep 30"))
            await wait_for(lambda: c.master.states("long"), what="running")
            master.ask_reregister = True
            await wait_for(lambda: len(master.registrations) == 2, what="re-registration")
            rereg = master.registrations[1]
            assert rereg.agent_info.id == "agent-1"
            assert rereg.agent_info.port == c.agent.port
            assert [(t.task_id, t.state) for t in rereg.tasks] == [
                ("long", common_pb2.TASK_RUNNING)
            ]

    asyncio.run(scenario())


def test_registration_carries_resources_and_attributes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, attributes={"rack": "r1"}) as c:
            info = c.master.registrations[0].agent_info
            assert info.id == ""
            assert info.hostname == "127.0.0.1"
            assert info.port == c.agent.port
            assert dict(info.attributes) == {"rack": "r1", "mesospy.images": "true"}
            assert {r.name for r in info.resources} == {"cpus", "mem", "disk", "ports"}

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("call", "request_", "expected"),
    [
        ("RunTasks", agent_pb2.RunTasksRequest(), "framework_info.id is empty"),
        (
            "RunTasks",
            agent_pb2.RunTasksRequest(framework_info=common_pb2.FrameworkInfo(id="f")),
            "no tasks",
        ),
        (
            "RunTasks",
            agent_pb2.RunTasksRequest(
                framework_info=common_pb2.FrameworkInfo(id="f"),
                tasks=[common_pb2.TaskInfo(task_id="")],
            ),
            "task_id is empty",
        ),
        ("KillTask", agent_pb2.KillTaskRequest(framework_id="f"), "task_id is empty"),
        (
            "AcknowledgeUpdates",
            agent_pb2.AcknowledgeUpdatesRequest(
                acks=[agent_pb2.AcknowledgeUpdatesRequest.Ack(framework_id="f", task_id="t")]
            ),
            "16-byte uuid",
        ),
        ("ShutdownFramework", agent_pb2.ShutdownFrameworkRequest(), "framework_id is empty"),
    ],
)
def test_bad_requests_get_invalid_argument(
    tmp_path: Path, call: str, request_: object, expected: str
) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await getattr(c.stub, call)(request_)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert expected in (caught.value.details() or "")

    asyncio.run(scenario())
