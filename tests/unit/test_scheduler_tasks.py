"""The task builder and offer helpers."""

import pytest

from mesospy.resources import Resources
from mesospy.scheduler import how_many_fit, is_terminal, offer_resources, state_name, task
from mesospy.v1 import common_pb2


def test_shell_command_task() -> None:
    info = task("t1", "echo hi", "cpus:0.5;mem:64", agent_id="a1", env={"K": "v"})
    assert info.task_id == "t1"
    assert info.name == "t1"  # defaults to the id
    assert info.agent_id == "a1"
    assert info.command.shell == "echo hi"
    assert not info.command.argv
    assert dict(info.command.environment) == {"K": "v"}
    assert Resources.from_proto(info.resources) == Resources.parse("cpus:0.5;mem:64")


def test_argv_task_with_labels_and_limits() -> None:
    info = task(
        "t2",
        ["/bin/sleep", "1"],
        Resources.parse("cpus:1"),
        name="sleeper",
        labels={"team": "a"},
        kill_grace_period=1.5,
        max_completion_time=60,
    )
    assert list(info.command.argv) == ["/bin/sleep", "1"]
    assert info.command.shell == ""
    assert info.name == "sleeper"
    assert [(label.key, label.value) for label in info.labels] == [("team", "a")]
    assert info.kill_policy.grace_period_seconds == 1.5
    assert info.max_completion_time_seconds == 60


def test_task_without_optional_fields_leaves_them_unset() -> None:
    info = task("t3", "true", "cpus:0.1")
    assert not info.HasField("health_check")
    assert not info.HasField("kill_policy")
    assert not info.HasField("max_completion_time_seconds")


def test_task_takes_a_health_check() -> None:
    check = common_pb2.HealthCheck(type=common_pb2.HealthCheck.TCP)
    check.tcp.port = 8080
    assert task("t4", "serve", "cpus:1", health_check=check).health_check.tcp.port == 8080


def test_offer_resources() -> None:
    offer = common_pb2.Offer(id="o1", resources=Resources.parse("cpus:2;mem:256").to_proto())
    assert offer_resources(offer) == Resources.parse("cpus:2;mem:256")


@pytest.mark.parametrize(
    ("available", "limit", "expected"),
    [
        ("cpus:1;mem:1024", 100, 10),  # cpus bind: 1 / 0.1
        ("cpus:8;mem:100", 100, 3),  # mem binds: 100 / 32
        ("cpus:8;mem:1024", 4, 4),  # the limit binds
        ("cpus:0.05;mem:1024", 100, 0),
        ("mem:1024", 100, 0),  # no cpus at all
    ],
)
def test_how_many_fit(available: str, limit: int, expected: int) -> None:
    per_task = Resources.parse("cpus:0.1;mem:32")
    assert how_many_fit(Resources.parse(available), per_task, limit) == expected


def test_terminal_states() -> None:
    assert is_terminal(common_pb2.TASK_FINISHED)
    assert is_terminal(common_pb2.TASK_LOST)
    assert not is_terminal(common_pb2.TASK_RUNNING)
    assert not is_terminal(common_pb2.TASK_UNREACHABLE)  # may come back
    assert state_name(common_pb2.TASK_KILLED) == "TASK_KILLED"
