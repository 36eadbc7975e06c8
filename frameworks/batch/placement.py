"""Where an instance may run: a job's constraints against an offer's agent. Pure.

An agent is described by its attributes plus ``hostname`` and ``agent_id``. EQUALS
compares the value, LIKE and UNLIKE match it as a regular expression (the whole value),
UNIQUE allows at most one active instance of a run per value of the attribute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from frameworks.batch.spec import Constraint
from mesospy.resources import Resources

__all__ = ["Misses", "agent_attributes", "satisfies"]


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


@dataclass
class Misses:
    """Why waiting work did not fit the offers of one cycle: per item, how many offers
    failed on constraints, resources or ports, and the most of each resource seen free."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    largest: dict[str, dict[str, float]] = field(default_factory=dict)

    def note(self, item: str, why: str, available: Resources | None = None) -> None:
        per = self.counts.setdefault(item, {})
        per[why] = per.get(why, 0) + 1
        if available is not None:
            most = self.largest.setdefault(item, {})
            for name in ("cpus", "mem", "disk"):
                most[name] = max(most.get(name, 0.0), available.scalar(name))

    def reason(
        self, item: str, offers: int, cpus: float, mem: float, disk: float, ports: int
    ) -> str:
        """One line a person can act on (empty: no offer was looked at for it)."""
        per = self.counts.get(item, {})
        if not offers or not per:
            return "waiting for offers" if not offers else ""
        parts = []
        if n := per.get("constraints"):
            parts.append(f"{n} failed the constraints")
        if n := per.get("resources"):
            most = self.largest.get(item, {})
            want = {"cpus": cpus, "mem": mem, "disk": disk}
            short = [
                f"{name} {want[name]:g} (at most {most.get(name, 0.0):g} free)"
                for name in ("cpus", "mem", "disk")
                if want[name] > most.get(name, 0.0)
            ]
            parts.append(f"{n} lacked " + (", ".join(short) or "cpus/mem/disk together"))
        if n := per.get("ports"):
            parts.append(f"{n} lacked {ports} free ports")
        return f"no offer fits: of the last {offers} offers, " + "; ".join(parts)
