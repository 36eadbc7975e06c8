"""Placement constraints (Marathon's operators), as pure predicates over plain data.

A constraint reads a field of an agent: ``hostname`` (or ``@hostname``), ``@region`` and
``@zone`` (its ``region``/``zone`` attributes), or one of its attributes. An offer
is acceptable for a new instance when every constraint holds given where the app's other
instances already run. A chain of small checks, one per operator.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from frameworks.service.spec import Constraint


@dataclass(frozen=True)
class Place:
    """Where something runs (or could run): an agent's hostname and attributes."""

    hostname: str
    attributes: Mapping[str, str]

    def value(self, field: str) -> str | None:
        """``hostname``/``@hostname``: the agent's hostname; ``@region``/``@zone``: its
        ``region``/``zone`` attribute (agents declare no other fault domain); else the
        attribute of that name."""
        if field in ("hostname", "@hostname"):
            return self.hostname
        return self.attributes.get(FAULT_DOMAIN.get(field, field))


# Marathon's fault-domain fields, read from the agent attributes of these names.
FAULT_DOMAIN = {"@region": "region", "@zone": "zone"}


def _unique(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    return counts[value] == 0


def _is(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    return value == c.value


def _cluster(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    if c.value:
        return value == c.value
    # Without a value: all instances on whatever value the first one got.
    return not counts or value in counts


def _group_by(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    # Spread evenly over the values seen (or the expected number of groups, if given):
    # a value may only get one more than the least used one has.
    groups = max(int(c.value) if c.value else 1, len(known | set(counts) | {value}))
    total = sum(counts.values()) + 1
    return counts[value] + 1 <= math.ceil(total / groups)


def _like(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    return re.fullmatch(c.value, value) is not None


def _unlike(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    return re.fullmatch(c.value, value) is None


def _max_per(c: Constraint, value: str, counts: Counter[str], known: set[str]) -> bool:
    return counts[value] < int(c.value)


CHECKS: dict[str, Callable[[Constraint, str, Counter[str], set[str]], bool]] = {
    "UNIQUE": _unique,
    "CLUSTER": _cluster,
    "IS": _is,
    "GROUP_BY": _group_by,
    "LIKE": _like,
    "UNLIKE": _unlike,
    "MAX_PER": _max_per,
}


def violated(
    constraints: Iterable[Constraint],
    candidate: Place,
    placed: Iterable[Place],
    known_places: Iterable[Place] = (),
) -> Constraint | None:
    """The first constraint that placing one more instance on ``candidate`` would break,
    given the app's instances at ``placed``; None if it may go there.

    ``known_places`` are the agents seen lately (for GROUP_BY's number of groups).
    """
    placed = list(placed)
    known = list(known_places)
    for c in constraints:
        value = candidate.value(c.field)
        if value is None:
            # An agent without the attribute: only UNLIKE can hold.
            if c.operator == "UNLIKE":
                continue
            return c
        counts = Counter(v for p in placed if (v := p.value(c.field)) is not None)
        seen = {v for p in known if (v := p.value(c.field)) is not None}
        if not CHECKS[c.operator](c, value, counts, seen):
            return c
    return None
