"""The test harness's view of task states (plain data: the framework is never started)."""

from __future__ import annotations

from mesospy.testing import FrameworkHarness, TaskQueueScheduler
from mesospy.v1 import common_pb2 as pb

RECONCILED = pb.TaskStatus.REASON_RECONCILIATION


def status(task_id: str, state: int, reason: int = 0) -> pb.TaskStatus:
    return pb.TaskStatus(task_id=task_id, state=state, reason=reason)  # type: ignore[arg-type]


def test_a_late_reconciliation_answer_does_not_undo_a_tasks_end() -> None:
    scheduler = TaskQueueScheduler()
    harness = FrameworkHarness("127.0.0.1:1", scheduler)
    scheduler.statuses.extend(
        [
            status("a", pb.TASK_RUNNING),
            status("a", pb.TASK_FINISHED),
            status("a", pb.TASK_UNKNOWN, RECONCILED),  # asked while the end was on its way
            status("b", pb.TASK_RUNNING),
            status("b", pb.TASK_RUNNING, RECONCILED),
            status("c", pb.TASK_LOST),
            status("c", pb.TASK_STAGING),  # launched again
            status("c", pb.TASK_RUNNING),
        ]
    )
    assert harness.latest_states() == {
        "a": pb.TASK_FINISHED,
        "b": pb.TASK_RUNNING,
        "c": pb.TASK_RUNNING,
    }
