"""mesospy.testing.python_executor: an Executor class of the test tree, run for real."""

from __future__ import annotations

import pytest

from mesospy.scheduler import executor_task
from mesospy.testing import FrameworkHarness, LocalCluster, python_executor
from mesospy.v1 import common_pb2 as pb


def test_an_executor_class_runs_as_the_agent_starts_it(cluster: LocalCluster) -> None:
    info = python_executor("harnessed", "tests.executors.echo_executor:Echo")
    assert list(info.command.argv[1:3]) == ["-m", "mesospy.testing.executors"]
    with FrameworkHarness(cluster.master_address, name="harness") as fw:
        fw.wait(lambda: bool(fw.tasks.framework_id), what="subscription")
        fw.submit([executor_task("h1", info, "cpus:0.1;mem:16")])

        def running() -> bool:
            return any(
                s.task_id == "h1" and s.state == pb.TASK_RUNNING for s in fw.tasks.statuses
            )

        fw.wait(running, what="h1 running")
        agent_id = next(s.agent_id for s in fw.tasks.statuses if s.task_id == "h1")
        fw.driver.send_framework_message("harnessed", agent_id, b"ping")
        fw.wait(lambda: ("harnessed", agent_id, b"echo:ping") in fw.tasks.messages, what="pong")


def test_a_target_must_name_module_and_class() -> None:
    with pytest.raises(ValueError, match="module:Class"):
        python_executor("x", "just_a_module")
