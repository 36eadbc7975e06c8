"""The executor SDK's surface and the scheduler SDK's message batching (pure)."""

from __future__ import annotations

import pytest

import mesospy.executor as sdk
from mesospy.executor import Executor, ExecutorDriver, ExecutorEnvironmentError, new_status
from mesospy.scheduler import calls
from mesospy.v1 import common_pb2 as pb

ENV = {
    "MESOS_AGENT_ENDPOINT": "127.0.0.1:1",
    "MESOS_FRAMEWORK_ID": "f1",
    "MESOS_EXECUTOR_ID": "e1",
    "MESOSPY_EXECUTOR_TOKEN": "secret",
}


def test_exported_names_are_documented() -> None:
    assert set(sdk.__all__) == {
        "Executor",
        "ExecutorDriver",
        "ExecutorEnvironmentError",
        "new_status",
    }
    for cls in (Executor, ExecutorDriver):
        assert cls.__doc__
        for attr, member in vars(cls).items():
            if callable(member) and not attr.startswith("_"):
                assert member.__doc__, f"{cls.__name__}.{attr}"


def test_a_driver_outside_an_agent_names_what_is_missing() -> None:
    with pytest.raises(ExecutorEnvironmentError, match="MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID"):
        ExecutorDriver(Executor(), environ={"MESOS_EXECUTOR_ID": "e1"})


def test_driver_reads_its_identity_and_refuses_oversized_messages() -> None:
    driver = ExecutorDriver(Executor(), environ={**ENV, "MESOS_RECOVERY_TIMEOUT": "7s"})
    assert (driver.framework_id, driver.executor_id, driver.endpoint) == ("f1", "e1", "127.0.0.1:1")
    assert driver._recovery_timeout == 7.0
    with pytest.raises(ValueError, match="4 MiB"):
        driver.send_framework_message(b"x" * (4 * 1024 * 1024 + 1))
    uuid = driver.send_status_update("t1", pb.TASK_RUNNING, "up")
    assert len(uuid) == 16


def test_new_status_has_a_fresh_uuid() -> None:
    a, b = new_status("t", pb.TASK_RUNNING), new_status("t", pb.TASK_RUNNING)
    assert len(a.uuid) == 16 and a.uuid != b.uuid and a.state == pb.TASK_RUNNING


def test_queued_messages_go_in_one_call_in_order_around_other_calls() -> None:
    queue = [
        calls.Outgoing(calls.message("e", "a", b"1")),
        calls.Outgoing(calls.message("e", "a", b"2")),
        calls.Outgoing(calls.shutdown("e", "a")),
        calls.Outgoing(calls.message("e", "a", b"3")),
    ]
    planned = calls.plan_flush(queue)
    assert [p.call.type for p in planned] == [
        calls.Call.MESSAGE,
        calls.Call.SHUTDOWN,
        calls.Call.MESSAGE,
    ]
    assert [m.data for m in planned[0].call.messages] == [b"1", b"2"]
    assert [m.data for m in planned[2].call.messages] == [b"3"]
    # The queued calls themselves are not changed.
    assert [m.data for m in queue[0].call.messages] == [b"1"]


def test_message_batches_stop_at_the_per_call_limit() -> None:
    queue = [calls.Outgoing(calls.message("e", "a", b"x")) for _ in range(2500)]
    planned = calls.plan_flush(queue)
    assert [len(p.call.messages) for p in planned] == [2000, 500]
