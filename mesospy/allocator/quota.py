"""Quota: per-role guarantees and limits (Mesos 1.9+ semantics), pure.

A role's *limit* caps what its subtree may hold (offered plus used by tasks): the allocator
never offers a role beyond the limit of the role or of any of its ancestors. A role's
*guarantee* is what the cluster keeps for it: in each cycle roles below their guarantee
are offered first (stage 1), up to what they lack of the guaranteed resources, and the
fair-share offers of stage 2 leave enough unallocated resources (the *headroom*) for the
guarantees not met yet, even of roles that are not asking for offers now.

What a subtree still needs of its guarantees counts the role's own guarantee and its
children's: ``need(r) = max(guarantee(r) - consumed(r), sum of need(child))``; the
headroom to keep is the sum of the top-level needs. Only scalars (cpus, mem, disk, gpus,
and other scalars the agents have) take part.

Reservations (Mesos 1.9): a role *consumes* what its subtree is offered or uses plus what is
reserved for roles of its subtree and not allocated. Reserved resources thus count against
its limit and towards its guarantee whether used or not, and since they are nobody else's
they are not free for the headroom either: counted once, as consumption. Offering a role
its own reservations changes nothing it consumes, so they are offered whatever the limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mesospy.allocator.roles import ancestors, parent_of
from mesospy.resources import Resources, scalar_milli, with_scalars

__all__ = [
    "QUOTA_RESOURCES",
    "Quota",
    "QuotaCycle",
    "guarantee_overcommit",
    "quota_problems",
]

# Scalars a quota may always name; others only if some agent has them.
QUOTA_RESOURCES = ("cpus", "mem", "disk", "gpus")
MAX_AMOUNT = 1e12  # far beyond any cluster, and exact in thousandths


@dataclass(frozen=True)
class Quota:
    """Guarantees and limits of one role, by scalar name (a name not limited: no limit)."""

    guarantees: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.guarantees and not self.limits


def _milli(values: Mapping[str, float]) -> dict[str, int]:
    return {name: round(value * 1000) for name, value in values.items()}


def _fmt(milli: int) -> str:
    return f"{milli / 1000:g}"


# ---------------------------------------------------------------------- validation


def quota_problems(
    role: str,
    quota: Quota,
    others: Mapping[str, Quota],
    known: Sequence[str] = QUOTA_RESOURCES,
) -> list[str]:
    """What is wrong with setting `quota` on `role`, the quota of other roles being
    `others`; `known` are the scalar names it may use. Empty: it may be set."""
    problems: list[str] = []
    if role == "*":
        problems.append("role '*' cannot have quota; give a named role such as 'eng'")
    for kind, values in (("guarantee", quota.guarantees), ("limit", quota.limits)):
        for name, value in sorted(values.items()):
            if name not in known:
                problems.append(
                    f"{kind} names unknown resource {name!r}; known: {', '.join(known)}"
                )
            if not (math.isfinite(value) and value >= 0):
                problems.append(f"{kind} {name}:{value} must be a finite number >= 0")
            elif value > MAX_AMOUNT:
                problems.append(
                    f"{kind} {name}:{value:g} is above the largest amount {MAX_AMOUNT:g}"
                )
    for name, value in sorted(quota.guarantees.items()):
        limit = quota.limits.get(name)
        if limit is not None and value > limit:
            problems.append(
                f"guarantee {name}:{value:g} is above the limit {name}:{limit:g} "
                f"(a guarantee must be <= its limit)"
            )
    if problems:
        return problems
    quotas = {r: q for r, q in others.items() if r != role}
    quotas[role] = quota
    return _hierarchy_problems(role, quotas)


def _hierarchy_problems(role: str, quotas: Mapping[str, Quota]) -> list[str]:
    """A child's limit must not exceed its ancestor's; a parent's guarantee must hold its
    children's guarantees together (checked for the names the parent sets)."""
    problems = []
    mine = quotas[role]
    for ancestor in ancestors(role)[:-1]:
        above = quotas.get(ancestor)
        if above is None:
            continue
        for name, limit in sorted(mine.limits.items()):
            if name in above.limits and limit > above.limits[name]:
                problems.append(
                    f"limit {name}:{limit:g} is above the limit {name}:"
                    f"{above.limits[name]:g} of the parent role {ancestor!r}"
                )
    for other, theirs in sorted(quotas.items()):
        if other.startswith(role + "/"):
            for name, limit in sorted(theirs.limits.items()):
                if name in mine.limits and limit > mine.limits[name]:
                    problems.append(
                        f"limit {name}:{mine.limits[name]:g} is below the limit "
                        f"{name}:{limit:g} of the child role {other!r}"
                    )
    for parent in [*ancestors(role)[:-1], role]:
        above = quotas.get(parent)
        if above is None:
            continue
        children = [q for r, q in quotas.items() if parent_of(r) == parent]
        for name, guaranteed in sorted(above.guarantees.items()):
            together = sum(q.guarantees.get(name, 0.0) for q in children)
            if together > guaranteed + 1e-9:
                problems.append(
                    f"the child roles of {parent!r} are guaranteed {name}:{together:g} "
                    f"together, more than its guarantee {name}:{guaranteed:g}"
                )
    return problems


def guarantee_overcommit(quotas: Mapping[str, Quota], total: Resources) -> dict[str, float]:
    """By how much the guarantees together exceed the cluster's `total`, per scalar
    (empty: the cluster can hold them). A parent's guarantee counts its children's."""
    effective = _effective_guarantees({r: _milli(q.guarantees) for r, q in quotas.items()})
    wanted: dict[str, int] = {}
    for role, values in effective.items():
        if "/" not in role:
            for name, value in values.items():
                wanted[name] = wanted.get(name, 0) + value
    have = scalar_milli(total)
    return {
        name: (value - have.get(name, 0)) / 1000
        for name, value in sorted(wanted.items())
        if value > have.get(name, 0)
    }


def _effective_guarantees(guarantees: Mapping[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Per node (roles with a guarantee and their ancestors): max(own, sum of children)."""
    nodes = {a for role in guarantees for a in ancestors(role)}
    out: dict[str, dict[str, int]] = {}
    for node in sorted(nodes, key=lambda n: -n.count("/")):  # children before parents
        values = dict(guarantees.get(node, {}))
        summed: dict[str, int] = {}
        for child in nodes:
            if parent_of(child) == node and "/" in child:
                for name, value in out[child].items():
                    summed[name] = summed.get(name, 0) + value
        for name, value in summed.items():
            values[name] = max(values.get(name, 0), value)
        out[node] = values
    return out


# ---------------------------------------------------------------------- the cycle


class Consumption(Protocol):
    def allocation(self, role: str) -> Resources: ...
    def allocated_total(self) -> Resources: ...


class QuotaCycle:
    """One allocation cycle's quota bookkeeping: what each role may be offered.

    `quotas` maps roles to (guarantees, limits) in thousandths; `consumption` answers what
    each role's subtree holds now (the allocator's role tree, kept current as offers are
    made); call `taken` after each offer. What a role may still get under its limits is
    kept per role until an offer on its path changes it: most checks cost a dict lookup.
    """

    def __init__(
        self,
        quotas: Mapping[str, tuple[dict[str, int], dict[str, int]]],
        consumption: Consumption,
        total: Resources,
        min_allocatable: Sequence[Resources],
        reserved: Mapping[str, Resources] | None = None,
    ) -> None:
        """`reserved`: the unallocated reserved resources, by the role reserved for."""
        self._quotas = quotas
        self._held = consumption
        # Unallocated reservations in each role's subtree, by scalar, in thousandths.
        self._reserved_under: dict[str, dict[str, int]] = {}
        reserved_total: dict[str, int] = {}
        for role, resources in (reserved or {}).items():
            for name, value in scalar_milli(resources).items():
                reserved_total[name] = reserved_total.get(name, 0) + value
                for node in ancestors(role):
                    under = self._reserved_under.setdefault(node, {})
                    under[name] = under.get(name, 0) + value
        self._min = min_allocatable
        # The usual minimums (cpus:0.01, mem:32) are scalars alone: then an offer's scalars
        # in thousandths tell whether it is worth making, before it is built.
        self._min_milli: list[Mapping[str, int]] | None = [
            scalar_milli(least) for least in min_allocatable
        ]
        if any(not with_scalars(least, {}).is_empty() for least in min_allocatable):
            self._min_milli = None
        self._guaranteed = {r for r, (g, _) in quotas.items() if g}
        self._nodes = {a for r in self._guaranteed for a in ancestors(r)}
        self._children: dict[str, list[str]] = {n: [] for n in self._nodes}
        for node in self._nodes:
            if "/" in node:
                self._children[parent_of(node)].append(node)
        self._need: dict[str, dict[str, int]] = {}
        for node in sorted(self._nodes, key=lambda n: -n.count("/")):
            self._need[node] = self._node_need(node)
        self._required: dict[str, int] = {}
        for node in self._nodes:
            if "/" not in node:
                for name, value in self._need[node].items():
                    self._required[name] = self._required.get(name, 0) + value
        free = dict(scalar_milli(total))
        for name, value in scalar_milli(consumption.allocated_total()).items():
            free[name] = free.get(name, 0) - value
        for name, value in reserved_total.items():  # nobody else's: not headroom
            free[name] = free.get(name, 0) - value
        self._free = free
        self._spare: dict[str, int] = {}
        self._refresh_spare()
        self._paths: dict[str, tuple[list[str], list[str]]] = {}
        self._ancestors: dict[str, list[str]] = {}
        self._rooms: dict[str, dict[str, int]] = {}  # role -> what its limits leave
        self._by_node: dict[str, set[str]] = {}  # limited node -> roles cached under it

    @property
    def needy(self) -> bool:
        """Whether some guarantee is not met yet."""
        return bool(self._spare)

    def _refresh_spare(self) -> None:
        # Spare = unallocated beyond the headroom; only while some guarantee lacks.
        free, required = self._free, self._required
        self._spare = {n: free.get(n, 0) - v for n, v in required.items() if v > 0}

    def _consumed(self, role: str) -> Mapping[str, int]:
        held = scalar_milli(self._held.allocation(role))
        reserved = self._reserved_under.get(role)
        if not reserved:
            return held
        out = dict(held)
        for name, value in reserved.items():
            out[name] = out.get(name, 0) + value
        return out

    def _up(self, role: str) -> list[str]:
        up = self._ancestors.get(role)
        if up is None:
            up = self._ancestors[role] = ancestors(role)
        return up

    def _node_need(self, node: str) -> dict[str, int]:
        held = self._consumed(node)
        need: dict[str, int] = {}
        for child in self._children[node]:
            for name, value in self._need[child].items():
                need[name] = need.get(name, 0) + value
        for name, value in self._quotas.get(node, ({}, {}))[0].items():
            own = value - held.get(name, 0)
            if own > need.get(name, 0):
                need[name] = own
        return {name: value for name, value in need.items() if value > 0}

    def _path(self, role: str) -> tuple[list[str], list[str]]:
        """The roles on the way to `role` (itself included) with a guarantee, with a limit."""
        path = self._paths.get(role)
        if path is None:
            nodes = self._up(role)
            quotas = self._quotas
            path = self._paths[role] = (
                [n for n in nodes if n in quotas and quotas[n][0]],
                [n for n in nodes if n in quotas and quotas[n][1]],
            )
        return path

    def _room(self, role: str, limited: list[str]) -> dict[str, int]:
        room = self._rooms.get(role)
        if room is not None:
            return room
        room = {}
        for node in limited:
            held = self._consumed(node)
            for name, limit in self._quotas[node][1].items():
                left = max(0, limit - held.get(name, 0))
                if left < room.get(name, left + 1):
                    room[name] = left
            self._by_node.setdefault(node, set()).add(role)
        self._rooms[role] = room
        return room

    def _entitled(self, guaranteed: list[str]) -> tuple[dict[str, int], set[str]]:
        """What the role may take in stage 1 (the most any guarantee on its path lacks),
        and every scalar those guarantees name."""
        entitled: dict[str, int] = {}
        names: set[str] = set()
        for node in guaranteed:
            held = self._consumed(node)
            for name, value in self._quotas[node][0].items():
                names.add(name)
                lack = value - held.get(name, 0)
                if lack > entitled.get(name, 0):
                    entitled[name] = lack
        return entitled, names

    def _allocatable(self, resources: Resources) -> bool:
        return any(resources.contains(least) for least in self._min)

    def _cut(self, free: Resources, scalars: dict[str, int]) -> Resources | None:
        """`free` with its scalars cut to `scalars` (thousandths, > 0), if worth offering."""
        mins = self._min_milli
        if mins is None:
            offer = with_scalars(free, scalars)
            return offer if self._allocatable(offer) else None
        for least in mins:
            for name, value in least.items():
                if scalars.get(name, 0) < value:
                    break
            else:
                return with_scalars(free, scalars)
        return None

    def guarantee_offer(self, role: str, free: Resources) -> Resources | None:
        """Stage 1: what of `free` the role gets towards its guarantees, or None."""
        guaranteed, limited = self._path(role)
        if not guaranteed:
            return None
        entitled, names = self._entitled(guaranteed)
        room = self._room(role, limited) if limited else {}
        scalars: dict[str, int] = {}
        useful = False
        for name, value in scalar_milli(free).items():
            if name in names:
                value = min(value, entitled.get(name, 0))
                useful |= value > 0
            elif name in self._spare:
                value = min(value, max(0, self._spare[name]))
            if name in room:
                value = min(value, room[name])
            if value > 0:
                scalars[name] = value
        if not useful:
            return None
        return self._cut(free, scalars)

    def fair_offer(self, role: str, free: Resources) -> Resources | None:
        """Stage 2: what of `free` the role may get within its limits and the headroom."""
        guaranteed, limited = self._path(role)
        spare = self._spare
        if not limited and not spare:
            return free
        have = scalar_milli(free)
        binds = False  # (loops, not any(): a cycle allocates as little as it can)
        for name, cap in spare.items():
            if have.get(name, 0) > cap:
                binds = True  # the headroom binds: cut below
                break
        if not binds:
            if not limited:
                return free
            room = self._room(role, limited)
            for name, cap in room.items():
                if have.get(name, 0) > cap:
                    break
            else:
                return free  # within every limit
        room = self._room(role, limited) if limited else {}
        entitled = self._entitled(guaranteed)[0] if guaranteed and spare else {}
        scalars: dict[str, int] = {}
        changed = False
        for name, value in scalar_milli(free).items():
            cap = value
            if name in spare:
                cap = min(cap, max(0, spare[name]) + entitled.get(name, 0))
            if name in room:
                cap = min(cap, room[name])
            changed |= cap != value
            if cap > 0:
                scalars[name] = cap
        if not changed:
            return free
        return self._cut(free, scalars)

    def reservations_within_limits(self, role: str, reserved: Resources) -> Resources:
        """What of `reserved` (reserved for `role` or its ancestors) may be offered to
        `role`: a reservation for the role itself always; one for an ancestor only while
        the roles below the ancestor down to `role` stay within their limits (it adds to
        what they consume)."""
        limited = self._path(role)[1]
        if not limited:
            return reserved
        by_role: dict[str, dict[str, int]] = {}
        for identity, part in reserved.parts():
            if identity.reservation is not None:
                values = by_role.setdefault(identity.reservation.role, {})
                for name, value in scalar_milli(part).items():
                    values[name] = values.get(name, 0) + value
        kept: set[str] = set()
        added: dict[str, int] = {}
        for reserved_for in sorted(by_role, key=len, reverse=True):  # own reservations first
            values, above = by_role[reserved_for], set(ancestors(reserved_for))
            fits = True
            for node in limited:
                if node in above:
                    continue  # it consumes these already
                held = self._consumed(node)
                for name, limit in self._quotas[node][1].items():
                    more = values.get(name, 0) + added.get(name, 0)
                    if more and held.get(name, 0) + more > limit:
                        fits = False
            if fits:
                kept.add(reserved_for)
                for name, value in values.items():
                    added[name] = added.get(name, 0) + value
        return reserved.reserved_for(kept)

    def taken(self, role: str, resources: Resources) -> None:
        """`resources` were just offered to `role` (and are counted as its consumption)."""
        if resources.has_reservations():
            self._reservations_taken(resources)
            resources = resources.unreserved()  # (only these were free for anyone)
        taken = scalar_milli(resources)
        free = self._free
        for name, value in taken.items():
            free[name] = free.get(name, 0) - value
        up = self._up(role)
        for node in up:  # rooms under these limits shrank
            for cached in self._by_node.pop(node, ()):
                self._rooms.pop(cached, None)
        top = up[0]
        if top in self._nodes and self._need[top]:  # (an offer never adds to a need)
            old_top = self._need[top]
            for node in reversed(up):
                if node in self._nodes:
                    self._need[node] = self._node_need(node)
            new_top = self._need[top]
            for name in set(old_top) | set(new_top):
                delta = new_top.get(name, 0) - old_top.get(name, 0)
                self._required[name] = self._required.get(name, 0) + delta
        if self._spare:
            self._refresh_spare()

    def _reservations_taken(self, resources: Resources) -> None:
        # Reserved resources offered: consumed as allocated now, no longer as unallocated.
        for identity, part in resources.parts():
            if identity.reservation is None:
                continue
            for node in ancestors(identity.reservation.role):
                under = self._reserved_under.get(node)
                if under is None:
                    continue
                for name, value in scalar_milli(part).items():
                    under[name] = under.get(name, 0) - value
