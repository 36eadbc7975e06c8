"""Custom executors end to end: a real master and agent, and the test executor
(echo_executor.py, a Python process on the executor SDK) started by the agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.scheduler import InvalidCall, NotFound, calls, executor_task, task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb

from .executors_support import echo_executor

Reason = pb.TaskStatus


@pytest.fixture
def framework(cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    with FrameworkHarness(cluster.master_address, name="executors") as harness:
        harness.wait(lambda: bool(harness.tasks.framework_id), what="subscription")
        yield harness


def latest(harness: FrameworkHarness, task_id: str) -> pb.TaskStatus | None:
    with harness.tasks.changed:
        found = [s for s in harness.tasks.statuses if s.task_id == task_id]
    return found[-1] if found else None


def wait_state(harness: FrameworkHarness, task_id: str, state: int) -> pb.TaskStatus:
    def reached() -> bool:
        status = latest(harness, task_id)
        return status is not None and status.state == state

    harness.wait(reached, what=f"{task_id} {pb.TaskState.Name(state)}")
    status = latest(harness, task_id)
    assert status is not None
    return status


def events_file(cluster: LocalCluster, harness: FrameworkHarness, executor_id: str) -> Path:
    assert cluster.work_dir is not None
    return (
        cluster.work_dir
        / "agent-0"
        / "frameworks"
        / harness.tasks.framework_id
        / "executors"
        / executor_id
        / "events"
    )


def test_launch_messages_both_ways_and_kill(
    cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    info = echo_executor("echo")
    framework.submit([executor_task(f"t{i}", info, "cpus:0.1;mem:16") for i in (1, 2)])
    running = wait_state(framework, "t1", pb.TASK_RUNNING)
    wait_state(framework, "t2", pb.TASK_RUNNING)
    assert running.source == pb.TaskStatus.SOURCE_EXECUTOR
    assert running.message == "running in the executor"
    agent_id = running.agent_id

    framework.driver.send_framework_message("echo", agent_id, b"hello")
    framework.wait(
        lambda: ("echo", agent_id, b"echo:hello") in framework.tasks.messages,
        what="the executor's answer",
    )

    framework.driver.send_framework_message("echo", agent_id, b"finish:t1")
    assert wait_state(framework, "t1", pb.TASK_FINISHED).message == "finish by message"

    framework.driver.kill("t2", agent_id)
    assert wait_state(framework, "t2", pb.TASK_KILLED).message == "killed by the executor"

    events = events_file(cluster, framework, "echo")
    framework.wait(
        lambda: "acknowledged t2" in events.read_text(), what="the executor to see the ack"
    )
    lines = events.read_text().splitlines()
    # One executor process ran both tasks.
    assert sum(line.startswith("registered echo") for line in lines) == 1
    assert lines.index("launch t1") < lines.index("acknowledged t1")
    assert "kill t2" in lines


def test_an_executor_that_exits_fails_its_tasks_and_the_scheduler_hears(
    framework: FrameworkHarness,
) -> None:
    info = echo_executor("crasher")
    framework.submit([executor_task(f"c{i}", info, "cpus:0.1;mem:16") for i in (1, 2)])
    agent_id = wait_state(framework, "c1", pb.TASK_RUNNING).agent_id
    wait_state(framework, "c2", pb.TASK_RUNNING)

    framework.driver.send_framework_message("crasher", agent_id, b"exit:3")
    for task_id in ("c1", "c2"):
        status = wait_state(framework, task_id, pb.TASK_FAILED)
        assert status.reason == Reason.REASON_EXECUTOR_TERMINATED
        assert "exited with status 3" in status.message
    framework.wait(
        lambda: (agent_id, "crasher", 3) in framework.tasks.failures, what="the FAILURE event"
    )
    # The executor is gone: a message to it is refused.
    with pytest.raises(NotFound, match="crasher"):
        framework.call(calls.message("crasher", agent_id, b"hello?"))


def test_shutdown_ends_the_executor_and_kills_its_tasks(
    cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    framework.submit([executor_task("s1", echo_executor("stopper"), "cpus:0.1;mem:16")])
    agent_id = wait_state(framework, "s1", pb.TASK_RUNNING).agent_id
    framework.call(calls.shutdown("stopper", agent_id))
    status = wait_state(framework, "s1", pb.TASK_KILLED)
    assert status.message == "executor shut down"
    framework.wait(
        lambda: any(f[1] == "stopper" for f in framework.tasks.failures),
        what="the executor's exit",
    )
    assert [f for f in framework.tasks.failures if f[1] == "stopper"] == [
        (agent_id, "stopper", 0)
    ]
    assert "shutdown" in events_file(cluster, framework, "stopper").read_text().splitlines()


def test_bad_tasks_and_calls_are_refused_with_clear_errors(framework: FrameworkHarness) -> None:
    both = executor_task("both", echo_executor("bad"), "cpus:0.1;mem:16")
    both.command.shell = "true"
    neither = task("neither", "true", "cpus:0.1;mem:16")
    neither.ClearField("command")
    framework.submit([both, neither])
    assert "both command and executor" in wait_state(framework, "both", pb.TASK_ERROR).message
    assert "neither command nor executor" in wait_state(framework, "neither", pb.TASK_ERROR).message

    # An executor id names one ExecutorInfo: another command under it is refused.
    framework.submit([executor_task("first", echo_executor("same"), "cpus:0.1;mem:16")])
    agent_id = wait_state(framework, "first", pb.TASK_RUNNING).agent_id
    other = echo_executor("same")
    other.command.argv.append("--other")
    framework.submit([executor_task("second", other, "cpus:0.1;mem:16")])
    refused = wait_state(framework, "second", pb.TASK_ERROR)
    assert "already runs on agent" in refused.message
    assert latest(framework, "first").state == pb.TASK_RUNNING  # type: ignore[union-attr]

    with pytest.raises(NotFound, match="'nobody'"):
        framework.call(calls.message("nobody", agent_id, b"x"))
    with pytest.raises(InvalidCall, match="at most 4194304"):
        framework.call(calls.message("same", agent_id, b"x" * (4 * 1024 * 1024 + 1)))
    with pytest.raises(ValueError, match="4 MiB"):
        framework.driver.send_framework_message("same", agent_id, b"x" * (4 * 1024 * 1024 + 1))
    with pytest.raises(NotFound, match="'nobody'"):
        framework.call(calls.shutdown("nobody", agent_id))
    # The executor got none of it and still runs its task.
    framework.driver.send_framework_message("same", agent_id, b"still there")
    framework.wait(
        lambda: ("same", agent_id, b"echo:still there") in framework.tasks.messages,
        what="the executor's answer",
    )
