"""The checkpoint log: replay, acks, forgetting, compaction, torn last lines."""

from __future__ import annotations

import uuid
from pathlib import Path

from mesospy.agent.checkpoint import Checkpoint
from mesospy.v1 import common_pb2

KEY = ("fw", "t")


def _status(state: int) -> common_pb2.TaskStatus:
    return common_pb2.TaskStatus(task_id="t", state=state, uuid=uuid.uuid4().bytes)  # type: ignore[arg-type]


def _record(meta: Path) -> tuple[common_pb2.TaskStatus, common_pb2.TaskStatus]:
    cp = Checkpoint(meta)
    cp.recover()
    cp.save_agent_id("agent-7")
    cp.add_framework(common_pb2.FrameworkInfo(id="fw", name="f"))
    cp.add_task("fw", common_pb2.TaskInfo(task_id="t"), "cid")
    cp.add_pid(KEY, 1234, 995)
    running, finished = _status(common_pb2.TASK_RUNNING), _status(common_pb2.TASK_FINISHED)
    cp.add_update(KEY, running)
    cp.add_update(KEY, finished)
    cp.add_ack(KEY, running.uuid)
    cp.close()
    return running, finished


def test_replay(tmp_path: Path) -> None:
    _, finished = _record(tmp_path)
    state = Checkpoint(tmp_path).recover()
    assert state.agent_id == "agent-7"
    assert list(state.frameworks) == ["fw"]
    task = state.tasks[KEY]
    assert (task.container_id, task.pid, task.start_ticks) == ("cid", 1234, 995)
    assert task.latest == finished
    assert task.unacked == [finished]


def test_recovery_compacts_and_survives_a_second_recovery(tmp_path: Path) -> None:
    _record(tmp_path)
    first = Checkpoint(tmp_path)
    first.recover()
    first.close()
    again = Checkpoint(tmp_path).recover()
    assert again.tasks[KEY].unacked[0].state == common_pb2.TASK_FINISHED
    assert len((tmp_path / "checkpoint.log").read_text().splitlines()) == 4


def test_acked_latest_state_is_kept_through_compaction(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path)
    cp.recover()
    cp.add_task("fw", common_pb2.TaskInfo(task_id="t"), "cid")
    running = _status(common_pb2.TASK_RUNNING)
    cp.add_update(KEY, running)
    cp.add_ack(KEY, running.uuid)
    cp.close()
    Checkpoint(tmp_path).recover()  # compacts
    state = Checkpoint(tmp_path).recover()
    assert state.tasks[KEY].latest == running
    assert state.tasks[KEY].unacked == []


def test_forgotten_tasks_and_torn_lines(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path)
    cp.recover()
    cp.add_task("fw", common_pb2.TaskInfo(task_id="t"), "cid")
    cp.forget(KEY)
    cp.add_task("fw", common_pb2.TaskInfo(task_id="u"), "cid2")
    cp.close()
    with open(tmp_path / "checkpoint.log", "a") as f:
        f.write('{"k": "upd", "fid": "fw", "ti')  # a crash mid-write
    state = Checkpoint(tmp_path).recover()
    assert list(state.tasks) == [("fw", "u")]
