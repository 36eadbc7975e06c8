"""Task states, and what a status update carries, as every component agrees (pure: the
wire enum only)."""

from __future__ import annotations

from mesospy.v1 import common_pb2 as pb

TERMINAL_STATES = frozenset(
    {
        pb.TASK_FINISHED,
        pb.TASK_FAILED,
        pb.TASK_KILLED,
        pb.TASK_ERROR,
        pb.TASK_LOST,
        pb.TASK_DROPPED,
        pb.TASK_GONE,
        pb.TASK_GONE_BY_OPERATOR,
    }
)
"""Task states that never change again."""


STATUS_UUID_BYTES = 16
"""The length of a status update's uuid (``TaskStatus.uuid``): agents make it, frameworks
send it back to acknowledge the update."""


def is_terminal(state: int) -> bool:
    """Whether a task in ``state`` is done for good (FINISHED, FAILED, KILLED, ...)."""
    return state in TERMINAL_STATES
