"""Where an app's next instances go: a pure planner over the offers at hand.

For each instance wanted, every offer is checked: the constraints (given where the app's
instances run), then resources, then ports. Among the offers that fit, the one whose agent
runs the fewest of the app's instances wins, so instances spread when they can; spreading
is only a preference and never leaves an instance unplaced that some offer could take.
What did not fit is kept per agent (``Misfit``) and summed up over the agents seen by
``explain``, so the reason shown is the real one, not whatever the last offer said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from frameworks.service.constraints import FAULT_DOMAIN, Place, violated
from frameworks.service.spec import Constraint
from mesospy.resources import Resources


@dataclass(frozen=True)
class Candidate:
    """An offer: the agent it is from, where that agent is, what it still has free."""

    agent_id: str
    place: Place
    available: Resources


@dataclass(frozen=True)
class Ask:
    """What one instance of an app needs: resources, ports (0: any), constraints."""

    needs: Resources
    ports: tuple[int, ...] = ()
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class Misfit:
    """Why an agent cannot take one more instance: a broken constraint, or no room."""

    constraint: Constraint | None = None
    room: str = ""  # what is missing ("cpus:0.5;mem:32 free", "2 ports free")
    no_field: bool = False  # the constraint's field is not an attribute of the agent


@dataclass(frozen=True)
class Launch:
    """One instance placed on ``candidates[index]`` with these ports and resources."""

    index: int
    ports: tuple[int, ...]
    uses: Resources


@dataclass
class Placement:
    """The launches, the candidates with what is left on them, and the misfits by agent."""

    launches: list[Launch]
    candidates: list[Candidate]
    misfits: dict[str, Misfit] = field(default_factory=dict)


def place(
    ask: Ask,
    wanted: int,
    candidates: Sequence[Candidate],
    placed: Iterable[tuple[str, Place]],
    known: Iterable[Place] = (),
) -> Placement:
    """Place up to ``wanted`` instances of ``ask`` on ``candidates``; ``placed`` lists the
    (agent id, place) of the app's live instances, ``known`` the agents seen lately."""
    left = list(candidates)
    here = list(placed)
    known = list(known)
    per_agent = Counter(agent_id for agent_id, _ in here)
    launches: list[Launch] = []
    misfits: dict[str, Misfit] = {}
    for _ in range(wanted):
        fits: list[tuple[int, int, tuple[int, ...], Resources]] = []
        for index, c in enumerate(left):
            misfit, ports, uses = _fit(ask, c, [p for _, p in here], known)
            if misfit is not None:
                misfits[c.agent_id] = misfit
            else:
                fits.append((per_agent[c.agent_id], index, ports, uses))
        if not fits:
            break
        _, index, ports, uses = min(fits, key=lambda f: (f[0], f[1]))  # least loaded first
        chosen = left[index]
        left[index] = replace(chosen, available=chosen.available - uses)
        here.append((chosen.agent_id, chosen.place))
        per_agent[chosen.agent_id] += 1
        misfits.pop(chosen.agent_id, None)
        launches.append(Launch(index, ports, uses))
    return Placement(launches, left, misfits)


def _fit(
    ask: Ask, c: Candidate, placed: list[Place], known: list[Place]
) -> tuple[Misfit | None, tuple[int, ...], Resources]:
    broken = violated(ask.constraints, c.place, placed, known)
    if broken is not None:
        no_field = c.place.value(broken.field) is None
        return Misfit(constraint=broken, no_field=no_field), (), Resources.EMPTY
    if not c.available.contains(ask.needs):
        return Misfit(room=f"{ask.needs} free"), (), Resources.EMPTY
    picked = pick_ports(c.available, ask.ports)
    if picked is None:
        return Misfit(room=_ports_text(ask.ports)), (), Resources.EMPTY
    ports, port_resources = picked
    return None, ports, ask.needs + port_resources


def pick_ports(
    available: Resources, requested: Sequence[int]
) -> tuple[tuple[int, ...], Resources] | None:
    """Ports for ``requested`` (a number: that port; 0: any free one), in that order, and
    the resources holding them; None if the offer lacks them."""
    fixed = [p for p in requested if p]
    if len(set(fixed)) < len(fixed):
        return None  # the spec refuses this; never two instances' worth of one port
    wanted_fixed = Resources(ranges={"ports": [(p, p) for p in fixed]}) if fixed else None
    if wanted_fixed is not None and not available.contains(wanted_fixed):
        return None
    rest = available - wanted_fixed if wanted_fixed is not None else available
    dynamic = sum(1 for p in requested if not p)
    if sum(end - begin + 1 for begin, end in rest.ranges("ports")) < dynamic:
        return None
    any_ports, any_resources = rest.allocate_ports(dynamic)
    free = iter(any_ports)
    ports = tuple(p if p else next(free) for p in requested)
    uses = any_resources + wanted_fixed if wanted_fixed is not None else any_resources
    return ports, uses


def _ports_text(requested: Sequence[int]) -> str:
    fixed = [str(p) for p in requested if p]
    dynamic = len(requested) - len(fixed)
    parts = [f"port{'s' if len(fixed) > 1 else ''} {', '.join(fixed)}"] if fixed else []
    if dynamic:
        parts.append(f"{dynamic} port{'s' if dynamic > 1 else ''}")
    return " and ".join(parts) + " free"


def constraint_text(c: Constraint) -> str:
    """``[rack_id, CLUSTER, rack-1]``, as written in a spec."""
    return "[" + ", ".join(x for x in (c.field, c.operator, c.value) if x) + "]"


def explain(misfits: Mapping[str, Misfit], constraints: Sequence[Constraint] = ()) -> str:
    """Why nothing fits, over the agents of ``misfits``: for each reason, on how many."""
    total = len(misfits)
    if not total:
        return "no offer seen yet"
    parts: list[str] = []
    room = Counter(m.room for m in misfits.values() if m.constraint is None)
    where = _satisfying(constraints)
    for missing, n in sorted(room.items(), key=lambda item: -item[1]):
        parts.append(f"no agent {where}has {missing} ({_count(n, total)})")
    broken = Counter(m.constraint for m in misfits.values() if m.constraint is not None)
    for c, n in sorted(broken.items(), key=lambda item: -item[1]):
        text = f"constraint {constraint_text(c)} unsatisfied on {_count(n, total)}"
        bare = sum(1 for m in misfits.values() if m.constraint == c and m.no_field)
        if bare:
            name = FAULT_DOMAIN.get(c.field, c.field)
            who = "no agent has" if bare == total else f"{bare} without"
            text += f" ({who} a {name} attribute)"
        parts.append(text)
    return "; ".join(parts)


def _satisfying(constraints: Sequence[Constraint]) -> str:
    exact = [
        f"{c.field}={c.value}" for c in constraints if c.operator in ("CLUSTER", "IS") and c.value
    ]
    if exact:
        return f"with {' and '.join(exact)} "
    return "satisfying the constraints " if constraints else ""


def _count(n: int, total: int) -> str:
    agents = "agent" if total == 1 else "agents"
    return f"all {total} {agents}" if n == total else f"{n} of {total} {agents}"
