"""The status update state machine, driven with plain data and an explicit clock."""

from __future__ import annotations

import uuid

from mesospy.agent.status_updates import UpdateStreams
from mesospy.v1 import common_pb2

RUNNING, FINISHED, KILLING = common_pb2.TASK_RUNNING, common_pb2.TASK_FINISHED, 4
A, B = ("fw", "a"), ("fw", "b")


def status(key: tuple[str, str], state: int) -> common_pb2.TaskStatus:
    return common_pb2.TaskStatus(task_id=key[1], state=state, uuid=uuid.uuid4().bytes)  # type: ignore[arg-type]


def sent(streams: UpdateStreams, now: float) -> list[tuple[str, int, int]]:
    return [(u.status.task_id, u.status.state, u.latest_state) for u in streams.due(now)]


def test_one_update_in_flight_per_task_and_order_kept() -> None:
    streams = UpdateStreams(retry_min=2, retry_max=60)
    running, finished = status(A, RUNNING), status(A, FINISHED)
    streams.add(A, running)
    streams.add(A, finished)
    streams.add(B, status(B, RUNNING))
    # Each task's oldest update goes out, carrying the task's newest state.
    assert sent(streams, 0) == [("a", RUNNING, FINISHED), ("b", RUNNING, RUNNING)]
    assert sent(streams, 1) == []  # nothing new until an ack or a retry
    assert streams.acknowledge(A, finished.uuid).accepted is False  # not the one in flight
    result = streams.acknowledge(A, running.uuid)
    assert (result.accepted, result.finished) == (True, False)
    assert sent(streams, 1) == [("a", FINISHED, FINISHED)]
    result = streams.acknowledge(A, finished.uuid)
    assert (result.accepted, result.finished) == (True, True)
    assert A not in streams and B in streams


def test_retries_back_off_and_cap() -> None:
    streams = UpdateStreams(retry_min=2, retry_max=5)
    streams.add(A, status(A, RUNNING))
    times = []
    now = 0.0
    assert sent(streams, now)
    for _ in range(4):
        deadline = streams.next_retry()
        assert deadline is not None
        assert sent(streams, deadline - 0.01) == []
        now = deadline
        assert len(sent(streams, now)) == 1
        times.append(now)
    assert times == [2, 6, 11, 16]  # 2, then 4, then capped at 5


def test_ack_sends_the_next_at_once_and_resets_backoff() -> None:
    streams = UpdateStreams(retry_min=2, retry_max=60)
    first, second = status(A, RUNNING), status(A, KILLING)
    streams.add(A, first)
    sent(streams, 0)
    sent(streams, 2)  # a retry: backoff now 4
    streams.add(A, second)
    streams.acknowledge(A, first.uuid)
    assert sent(streams, 2.5) == [("a", KILLING, KILLING)]
    assert streams.next_retry() == 4.5  # backoff started over


def test_resend_all_after_registration() -> None:
    streams = UpdateStreams(retry_min=30, retry_max=60)
    streams.add(A, status(A, RUNNING))
    streams.add(B, status(B, RUNNING))
    sent(streams, 0)
    assert sent(streams, 1) == []
    streams.resend_all()
    assert {t for t, _, _ in sent(streams, 1)} == {"a", "b"}


def test_acknowledged_non_terminal_stream_stays() -> None:
    streams = UpdateStreams()
    running = status(A, RUNNING)
    streams.add(A, running)
    sent(streams, 0)
    assert streams.acknowledge(A, running.uuid).finished is False
    assert A in streams and streams.latest_state(A) == RUNNING
    assert streams.next_retry() is None
