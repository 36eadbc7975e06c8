"""The master's checks take reserved resources (static reservations are honoured) and
still refuse persistent volumes, which nothing can create yet."""

from __future__ import annotations

from mesospy.master.validation import agent_info_problems, task_problem
from mesospy.resources import Resources, Volume
from mesospy.scheduler import task
from mesospy.v1 import common_pb2 as pb

R = Resources.parse


def test_a_task_on_reserved_resources_is_valid() -> None:
    problem, resources = task_problem(task("t", "true", "cpus(eng):1;mem(eng):64;mem:32"), "")
    assert problem is None
    assert resources == R("cpus(eng):1;mem(eng):64;mem:32")


def test_a_task_using_a_persistent_volume_is_refused_with_the_reason() -> None:
    volume = R("disk(eng):32").with_volume(Volume("v1", "data"))
    problem, _ = task_problem(task("t", "true", R("cpus:1") + volume), "")
    assert problem is not None
    assert "task 't'" in problem and "persistent volumes" in problem and "[v1:data]" in problem


def test_an_agent_may_register_with_reserved_resources() -> None:
    info = pb.AgentInfo(hostname="h", port=5051)
    info.resources.extend(R("cpus(eng):1;mem(eng):256;cpus:1;mem:256").to_proto())
    problems, resources = agent_info_problems(info)
    assert problems == []
    assert resources is not None and resources.reserved() == R("cpus(eng):1;mem(eng):256")
