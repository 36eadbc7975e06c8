"""The master's checks of task lifecycles (plain data)."""

from mesospy.master.validation import group_lifecycle_problem, task_problem
from mesospy.scheduler import task
from mesospy.v1 import common_pb2 as pb


def test_a_lifecycle_outside_a_group_is_refused() -> None:
    lone = task("t", "true", "cpus:0.1", lifecycle="prestart")
    problem, _ = task_problem(lone, "a1")
    assert problem is not None and "use LAUNCH_GROUP" in problem


def test_a_group_needs_a_main_task() -> None:
    side = task("side", "sleep 9", "cpus:0.1", lifecycle="prestart", sidecar=True)
    init = task("init", "true", "cpus:0.1", lifecycle="prestart")
    problem = group_lifecycle_problem([side, init])
    assert problem is not None and "no main task: 'side', 'init'" in problem
    assert group_lifecycle_problem([side, task("main", "true", "cpus:0.1")]) is None
    assert group_lifecycle_problem([task("a", "true", "cpus:0.1")]) is None


def test_task_sets_the_lifecycle() -> None:
    info = task("p", "true", "cpus:0.1", lifecycle="poststart", sidecar=True)
    assert info.lifecycle.hook == pb.TaskLifecycle.POSTSTART and info.lifecycle.sidecar
    assert not task("m", "true", "cpus:0.1").HasField("lifecycle")
