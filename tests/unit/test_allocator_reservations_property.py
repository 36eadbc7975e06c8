"""Property: whatever happens, resources reserved for a role are offered only within that
role's subtree, and no cycle takes a role's quota consumption beyond its limit.

Random event sequences (agents with mixed reserved and unreserved resources joining,
leaving and changing shape, frameworks in a role tree subscribing, offers kept or declined,
tasks ending, quota set and removed, suppress/revive) are played against the allocator.
The test keeps its own account from the offers and returns alone: what each (framework,
agent, role) holds, and so what is reserved and unallocated. A role consumes what its
subtree holds plus the unallocated reservations of its subtree (Mesos 1.9); after every
cycle that is at most the role's limit, or no more than before the cycle.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesospy.allocator import Allocator, Quota
from mesospy.allocator.roles import ancestors
from mesospy.resources import Resources

R = Resources.parse
ROLES = ["eng", "eng/dev", "eng/ops", "web", "*"]
QUOTA_ROLES = ["eng", "eng/dev", "eng/ops", "web"]
SHAPES = [
    R("cpus:4;mem:1024"),
    R("cpus(eng):2;mem(eng):512;cpus:2;mem:512"),
    R("cpus(eng/dev):3;mem(eng/dev):256;cpus:1;mem:256"),
    R("cpus(web):1;mem(web):512;cpus(eng/ops):1;mem(eng/ops):512"),
    R("cpus(eng):1;cpus(eng/dev):1;mem:1024;disk(eng/ops):100"),
]

Held = dict[tuple[str, str, str], Resources]

event = st.one_of(
    st.tuples(st.just("agent"), st.integers(0, 5), st.integers(0, len(SHAPES) - 1)),
    st.tuples(st.just("remove_agent"), st.integers(0, 5)),
    st.tuples(st.just("reshape"), st.integers(0, 5), st.integers(0, len(SHAPES) - 1)),
    st.tuples(st.just("framework"), st.integers(0, 4), st.sampled_from(ROLES)),
    st.tuples(st.just("cycle"), st.sampled_from(["keep", "decline", "filter", "mixed"])),
    st.tuples(st.just("finish"), st.integers(0, 50)),
    st.tuples(
        st.just("quota"),
        st.sampled_from(QUOTA_ROLES),
        st.integers(0, 6),  # cpus guarantee (0: none)
        st.integers(0, 12),  # cpus limit (0: none)
    ),
    st.tuples(st.just("suppress"), st.integers(0, 4)),
    st.tuples(st.just("revive"), st.integers(0, 4)),
)


def in_subtree(role: str, top: str) -> bool:
    return role == top or role.startswith(top + "/")


def consumed(held: Held, totals: dict[str, Resources], role: str) -> dict[str, float]:
    """The role's consumption by the test's own account."""
    out: dict[str, float] = {}

    def add(resources: Resources) -> None:
        for name, value in resources.scalar_items():
            out[name] = out.get(name, 0.0) + value

    reserved_held: dict[str, Resources] = {}
    for (_, agent, r), resources in held.items():
        if in_subtree(r, role):
            add(resources)
        reserved_held[agent] = reserved_held.get(agent, R("")) + resources.reserved()
    for agent, total in totals.items():
        for reserved_for in total.reserved_roles():
            if in_subtree(reserved_for, role):
                add(total.reserved(reserved_for) - reserved_held.get(agent, R("")))
    return {name: value for name, value in out.items() if value}


def play(events: list[tuple]) -> tuple[int, int]:  # type: ignore[type-arg]
    """Returns how many offers were made, and how many of them held reservations."""
    alloc = Allocator(seed=3)
    held: Held = {}
    totals: dict[str, Resources] = {}
    frameworks: dict[str, str] = {}
    now, n_offers, n_reserved = 0.0, 0, 0
    for ev in events:
        kind = ev[0]
        agent = f"a{ev[1]}" if kind in ("agent", "remove_agent", "reshape") else ""
        if kind == "agent" and agent not in totals:
            totals[agent] = SHAPES[ev[2]]
            alloc.add_agent(agent, SHAPES[ev[2]])
        elif kind == "remove_agent" and agent in totals:
            alloc.remove_agent(agent)
            del totals[agent]
            held = {k: v for k, v in held.items() if k[1] != agent}
        elif kind == "reshape" and agent in totals and all(k[1] != agent for k in held):
            totals[agent] = SHAPES[ev[2]]
            alloc.update_agent_total(agent, SHAPES[ev[2]])
        elif kind == "framework" and f"f{ev[1]}" not in frameworks:
            frameworks[f"f{ev[1]}"] = ev[2]
            alloc.add_framework(f"f{ev[1]}", [ev[2]])
        elif kind == "quota":
            _, role, guarantee, cpus_limit = ev
            limits = {"cpus": float(cpus_limit)} if cpus_limit else {}
            guaranteed = float(min(guarantee, cpus_limit or guarantee))
            alloc.update_quota(role, Quota({"cpus": guaranteed} if guaranteed else {}, limits))
        elif kind in ("suppress", "revive") and f"f{ev[1]}" in frameworks:
            getattr(alloc, kind)(f"f{ev[1]}")
        elif kind == "finish" and held:
            key = sorted(held)[ev[1] % len(held)]
            alloc.recover_resources(*key, held.pop(key), refuse_seconds=None, now=now)
        elif kind == "cycle":
            before = {role: consumed(held, totals, role) for role in alloc.quotas()}
            offers = alloc.allocate(now)
            n_offers += len(offers)
            for o in offers:
                # Reserved resources only within the subtree of the role reserved for.
                assert o.resources.reserved_roles() <= set(ancestors(o.role)), o
                n_reserved += o.resources.has_reservations()
                key = (o.framework_id, o.agent_id, o.role)
                held[key] = held.get(key, R("")) + o.resources
            for role, quota in alloc.quotas().items():
                after = consumed(held, totals, role)
                for name, limit in quota.limits.items():
                    was, is_now = before[role].get(name, 0.0), after.get(name, 0.0)
                    assert is_now <= max(limit, was) + 1e-9, (role, name, is_now, limit, was)
            for role in QUOTA_ROLES:  # the allocator's account agrees with the test's
                assert dict(alloc.role_consumed(role).scalar_items()) == consumed(
                    held, totals, role
                )
            for i, o in enumerate(offers):
                mode = ev[1] if ev[1] != "mixed" else ("keep", "decline", "filter")[i % 3]
                if mode != "keep":
                    key = (o.framework_id, o.agent_id, o.role)
                    refuse = 5.0 if mode == "filter" else None
                    alloc.recover_resources(*key, held.pop(key), refuse_seconds=refuse, now=now)
            now += 1.0
    return n_offers, n_reserved


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=5, max_size=50))
def test_random_events_keep_reservations_in_their_subtree_and_limits_held(
    events: list[tuple],  # type: ignore[type-arg]
) -> None:
    play(events)


def test_the_property_sees_reserved_offers_and_limits() -> None:
    # A fixed sequence, so the property above is known to exercise both rules.
    events = [
        ("agent", 0, 1), ("agent", 1, 2), ("agent", 2, 0), ("agent", 3, 3),
        ("quota", "eng", 0, 6), ("framework", 0, "eng/dev"), ("framework", 1, "web"),
        ("framework", 2, "eng/ops"), ("cycle", "keep"), ("cycle", "keep"),
    ]  # fmt: skip
    n_offers, n_reserved = play(events)
    assert n_offers >= 4 and n_reserved >= 3
