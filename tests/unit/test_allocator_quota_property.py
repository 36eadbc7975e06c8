"""Property: whatever happens, no cycle offers a role subtree beyond its quota limit, nor
a client what its decline filter refuses.

Random event sequences (agents joining and leaving, frameworks in a role tree subscribing,
offers kept or declined, tasks ending, quota set, changed and removed, suppress/revive)
are played against the allocator; the test keeps its own account of what each
(framework, agent, role) holds, from the offers and returns alone. After every cycle, for
each role with a limit, what its subtree holds of a limited resource is at most the limit,
or (if a lowered limit found it above) no more than before the cycle.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesospy.allocator import Allocator, Quota
from mesospy.resources import Resources

ROLES = ["eng", "eng/dev", "eng/ops", "eng/ops/db", "web", "batch"]
QUOTA_ROLES = ["eng", "eng/dev", "eng/ops", "web"]
AGENT = Resources.parse("cpus:4;mem:1024;disk:100")

Held = dict[tuple[str, str, str], Resources]

event = st.one_of(
    st.tuples(st.just("agent"), st.integers(0, 7)),
    st.tuples(st.just("remove_agent"), st.integers(0, 7)),
    st.tuples(st.just("framework"), st.integers(0, 5), st.sampled_from(ROLES)),
    st.tuples(st.just("cycle"), st.sampled_from(["keep", "decline", "filter", "mixed"])),
    st.tuples(st.just("finish"), st.integers(0, 50)),
    st.tuples(
        st.just("quota"),
        st.sampled_from(QUOTA_ROLES),
        st.integers(0, 10),  # cpus guarantee (0: none)
        st.integers(0, 20),  # cpus limit (0: none)
        st.integers(0, 3000),  # mem limit (0: none)
    ),
    st.tuples(st.just("suppress"), st.integers(0, 5)),
    st.tuples(st.just("revive"), st.integers(0, 5)),
)


def subtree(held: Held, role: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (_, _, r), resources in held.items():
        if r == role or r.startswith(role + "/"):
            for name, value in resources.scalar_items():
                out[name] = out.get(name, 0.0) + value
    return out


def check_limits(alloc: Allocator, before: dict[str, dict[str, float]], held: Held) -> None:
    for role, quota in alloc.quotas().items():
        after = subtree(held, role)
        for name, limit in quota.limits.items():
            now, was = after.get(name, 0.0), before[role].get(name, 0.0)
            assert now <= max(limit, was) + 1e-9, (role, name, now, limit, was)


def play(events: list[tuple]) -> tuple[int, Allocator]:  # type: ignore[type-arg]
    alloc = Allocator(seed=7)
    held: Held = {}
    # The test's own record of decline filters: (framework, agent, role) -> (what, until).
    filters: dict[tuple[str, str, str], tuple[Resources, float]] = {}
    agents: set[str] = set()
    frameworks: dict[str, str] = {}
    now, offers_made = 0.0, 0
    for ev in events:
        kind = ev[0]
        if kind == "agent" and f"a{ev[1]}" not in agents:
            agents.add(f"a{ev[1]}")
            alloc.add_agent(f"a{ev[1]}", AGENT)
        elif kind == "remove_agent" and f"a{ev[1]}" in agents:
            alloc.remove_agent(f"a{ev[1]}")
            agents.discard(f"a{ev[1]}")
            filters = {k: v for k, v in filters.items() if k[1] != f"a{ev[1]}"}
            held = {k: v for k, v in held.items() if k[1] != f"a{ev[1]}"}
        elif kind == "framework" and f"f{ev[1]}" not in frameworks:
            frameworks[f"f{ev[1]}"] = ev[2]
            alloc.add_framework(f"f{ev[1]}", [ev[2]])
        elif kind == "quota":
            _, role, guarantee, cpus_limit, mem_limit = ev
            limits = {"cpus": float(cpus_limit)} if cpus_limit else {}
            if mem_limit:
                limits["mem"] = float(mem_limit)
            guarantees = {"cpus": float(min(guarantee, cpus_limit or guarantee))}
            alloc.update_quota(role, Quota({k: v for k, v in guarantees.items() if v}, limits))
        elif kind in ("suppress", "revive") and f"f{ev[1]}" in frameworks:
            getattr(alloc, kind)(f"f{ev[1]}")
            if kind == "revive":  # a revive clears the framework's filters
                filters = {k: v for k, v in filters.items() if k[0] != f"f{ev[1]}"}
        elif kind == "finish" and held:
            key = sorted(held)[ev[1] % len(held)]
            alloc.recover_resources(*key, held.pop(key), refuse_seconds=None, now=now)
        elif kind == "cycle":
            before = {role: subtree(held, role) for role in alloc.quotas()}
            offers = alloc.allocate(now)
            offers_made += len(offers)
            for o in offers:
                key = (o.framework_id, o.agent_id, o.role)
                held[key] = held.get(key, Resources()) + o.resources
                refused = filters.get(key)
                if refused is not None and now < refused[1]:  # a filter is respected
                    assert not refused[0].contains(o.resources), (o, refused)
            check_limits(alloc, before, held)
            for role in ROLES:  # the allocator's account agrees with the test's
                mine = {k: v for k, v in subtree(held, role).items() if v}
                assert dict(alloc.role_consumed(role).scalar_items()) == mine
            for i, o in enumerate(offers):
                mode = ev[1] if ev[1] != "mixed" else ("keep", "decline", "filter")[i % 3]
                if mode == "keep":
                    continue
                key = (o.framework_id, o.agent_id, o.role)
                back = held.pop(key)
                refuse = 5.0 if mode == "filter" else None
                alloc.recover_resources(*key, back, refuse_seconds=refuse, now=now)
                if refuse is not None:
                    filters[key] = (back, now + refuse)
            now += 1.0
    return offers_made, alloc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=5, max_size=60))
def test_random_events_never_offer_beyond_a_limit(events: list[tuple]) -> None:  # type: ignore[type-arg]
    play(events)


def test_the_property_sees_offers_cut_by_limits() -> None:
    # A fixed sequence, so the property above is known to exercise cut offers.
    events = [
        ("agent", 0), ("agent", 1), ("agent", 2),
        ("quota", "eng", 0, 5, 0),
        ("framework", 0, "eng/dev"), ("framework", 1, "eng/ops/db"),
        ("cycle", "keep"), ("cycle", "keep"),
    ]  # fmt: skip
    offers, alloc = play(events)
    assert offers >= 3  # one agent whole, one cut to the limit, then mem alone
    assert alloc.role_consumed("eng").cpus == 5
