"""Where an instance may run: a job's constraints against an offer's agent. Pure.

An agent is described by its attributes plus ``hostname`` and ``agent_id``. EQUALS
compares the value, LIKE and UNLIKE match it as a regular expression (the whole value),
UNIQUE allows at most one active instance of a run per value of the attribute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from frameworks.batch.spec import Constraint

__all__ = ["agent_attributes", "satisfies"]


def agent_attributes(agent_id: str, hostname: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """What constraints can name about an agent."""
    return {**attributes, "hostname": hostname, "agent_id": agent_id}


def satisfies(
    constraints: Iterable[Constraint],
    agent: Mapping[str, str],
    taken: Iterable[Mapping[str, str]] = (),
) -> bool:
    """Whether an instance may run on ``agent``; ``taken``: agents of the run's active
    instances (for UNIQUE)."""
    taken = list(taken)
    for constraint in constraints:
        value = agent.get(constraint.attribute)
        if constraint.operator == "UNIQUE":
            if value is None or any(t.get(constraint.attribute) == value for t in taken):
                return False
        elif constraint.operator == "EQUALS":
            if value != constraint.value:
                return False
        elif constraint.operator == "LIKE":
            if value is None or not re.fullmatch(constraint.value, value):
                return False
        elif (
            constraint.operator == "UNLIKE"
            and value is not None
            and re.fullmatch(constraint.value, value)
        ):
            return False
    return True
