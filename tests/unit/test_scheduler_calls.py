"""Call builders and how a flush of queued calls is batched."""

import asyncio

from mesospy.scheduler import calls
from mesospy.scheduler.calls import Outgoing, plan_flush
from mesospy.v1 import common_pb2, scheduler_pb2

Call = scheduler_pb2.Call


def status(task_id: str, uuid: bytes, agent_id: str = "a1") -> common_pb2.TaskStatus:
    return common_pb2.TaskStatus(task_id=task_id, uuid=uuid, agent_id=agent_id)


def ack(task_id: str, uuid: bytes) -> Outgoing:
    return Outgoing(calls.acknowledge([status(task_id, uuid)]))


def kinds(planned: list[Outgoing]) -> list[str]:
    return [Call.Type.Name(item.call.type) for item in planned]


def test_launch_builds_one_accept_with_one_launch_operation() -> None:
    task = common_pb2.TaskInfo(task_id="t1", agent_id="a1")
    call = calls.launch(["o1", "o2"], [task], calls.refuse(30))
    assert call.type == Call.ACCEPT
    assert list(call.accept.offer_ids) == ["o1", "o2"]
    [operation] = call.accept.operations
    assert operation.type == Call.Operation.LAUNCH
    assert [t.task_id for t in operation.launch.task_infos] == ["t1"]
    assert call.accept.filters.refuse_seconds == 30


def test_decline_without_refuse_seconds_leaves_the_master_default() -> None:
    call = calls.decline(["o1"])
    assert not call.decline.filters.HasField("refuse_seconds")
    assert calls.decline(["o1"], 0).decline.filters.HasField("refuse_seconds")


def test_kill_sets_a_grace_period_only_when_given() -> None:
    assert not calls.kill("t1").kill.kill_policy.HasField("grace_period_seconds")
    assert calls.kill("t1", "a1", 2.5).kill.kill_policy.grace_period_seconds == 2.5


def test_acknowledge_skips_updates_without_uuid() -> None:
    call = calls.acknowledge([status("t1", b"u1"), status("t2", b"")])
    assert [a.task_id for a in call.acknowledges] == ["t1"]


def test_reconcile_with_no_tasks_is_implicit() -> None:
    assert len(calls.reconcile().reconcile.tasks) == 0
    explicit = calls.reconcile([("t1", "a1")]).reconcile.tasks
    assert [(t.task_id, t.agent_id) for t in explicit] == [("t1", "a1")]


def test_flush_merges_acks_into_one_call_where_the_first_ack_was() -> None:
    queue = [
        Outgoing(calls.revive()),
        ack("t1", b"1"),
        Outgoing(calls.kill("t9")),
        ack("t2", b"2"),
        ack("t3", b"3"),
    ]
    planned = plan_flush(queue)
    assert kinds(planned) == ["REVIVE", "ACKNOWLEDGE", "KILL"]
    assert [a.task_id for a in planned[1].call.acknowledges] == ["t1", "t2", "t3"]


def test_flush_drops_duplicate_acks() -> None:
    planned = plan_flush([ack("t1", b"1"), ack("t1", b"1"), ack("t1", b"2")])
    assert [(a.task_id, a.uuid) for a in planned[0].call.acknowledges] == [
        ("t1", b"1"),
        ("t1", b"2"),
    ]


def test_flush_splits_a_flood_of_acks_into_bounded_calls() -> None:
    planned = plan_flush([ack(f"t{i}", b"u") for i in range(5000)], max_acks=2000)
    assert [len(item.call.acknowledges) for item in planned] == [2000, 2000, 1000]


def test_awaited_acks_keep_their_own_call() -> None:
    async def scenario() -> list[Outgoing]:
        waiter = asyncio.get_running_loop().create_future()
        awaited = Outgoing(calls.acknowledge([status("t1", b"1")]), waiter)
        return plan_flush([ack("t0", b"0"), awaited, ack("t2", b"2")])

    planned = asyncio.run(scenario())
    assert [item.waiter is not None for item in planned] == [False, True]
    assert [a.task_id for a in planned[0].call.acknowledges] == ["t0", "t2"]


def test_flush_without_acks_keeps_order() -> None:
    queue = [Outgoing(calls.suppress()), Outgoing(calls.revive(["web"]))]
    assert plan_flush(queue) == queue
