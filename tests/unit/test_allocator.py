"""The allocator as a specification: events in, expected offers out."""

from __future__ import annotations

import pytest

from mesospy.allocator import Allocation, Allocator
from mesospy.resources import Resources

R = Resources.parse
AGENT = R("cpus:4;mem:1024")


def offers_by_agent(allocations: list[Allocation]) -> dict[str, str]:
    return {a.agent_id: a.framework_id for a in allocations}


def decline(alloc: Allocator, offers: list[Allocation], seconds: float | None, now: float) -> None:
    for o in offers:
        alloc.recover_resources(
            o.framework_id, o.agent_id, o.role, o.resources, refuse_seconds=seconds, now=now
        )


def test_whole_free_pool_of_each_agent_goes_to_one_framework() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    assert alloc.allocate(now=0) == [Allocation("f1", "a1", "*", AGENT)]
    assert alloc.allocated("f1") == AGENT
    assert alloc.agent_free("a1") == Resources()
    assert alloc.allocate(now=1) == []  # nothing free any more


def test_drf_offers_to_the_framework_with_the_lower_dominant_share() -> None:
    alloc = Allocator()
    alloc.add_framework("big", ["*"])
    alloc.add_framework("small", ["*"])
    alloc.add_agent("busy", R("cpus:7;mem:300"), {("big", "*"): R("cpus:6;mem:100")})
    alloc.add_used("small", "busy", "*", R("cpus:1;mem:200"))
    alloc.add_agent("idle", R("cpus:10;mem:1000"))
    # Totals cpus:17;mem:1300. big = max(6/17, 100/1300) = 0.353 (cpus dominate);
    # small = max(1/17, 200/1300) = 0.154 (mem dominates): small is offered first.
    assert alloc.framework_share("big") == pytest.approx(6 / 17)
    assert alloc.framework_share("small") == pytest.approx(200 / 1300)
    assert offers_by_agent(alloc.allocate(now=0)) == {"idle": "small"}
    # small now holds 11/17 cpus = 0.647 > big: what small returns goes to big.
    alloc.recover_resources("small", "busy", "*", R("cpus:1;mem:200"), refuse_seconds=None, now=1)
    assert offers_by_agent(alloc.allocate(now=1)) == {"busy": "big"}


def test_role_weights_two_to_one_give_a_two_to_one_dominant_share() -> None:
    alloc = Allocator()
    alloc.update_weights({"gold": 2.0})
    alloc.add_framework("fg", ["gold"])
    alloc.add_framework("fs", ["silver"])
    for i in range(300):
        alloc.add_agent(f"a{i:03d}", R("cpus:1;mem:100"))
    for now in range(3):  # frameworks keep everything they are offered
        alloc.allocate(now=now)
    # Weighted shares level out: gold / 2 == silver / 1, so gold holds 200 agents, silver 100.
    assert alloc.role_share("gold") / alloc.role_share("silver") == pytest.approx(2.0, rel=0.02)
    assert alloc.role_share("gold") + alloc.role_share("silver") == pytest.approx(1.0)


def test_decline_filter_blocks_reoffer_until_expiry() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    decline(alloc, alloc.allocate(now=0), seconds=5, now=0)
    assert alloc.agent_free("a1") == AGENT  # back in the pool
    assert alloc.allocate(now=1) == []
    assert alloc.allocate(now=4.999) == []
    assert alloc.next_filter_expiry() == 5
    assert offers_by_agent(alloc.allocate(now=5)) == {"a1": "f1"}  # now >= expiry


def test_declined_agent_goes_to_the_next_framework() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_framework("f2", ["*"])
    alloc.add_agent("a1", AGENT)
    first = alloc.allocate(now=0)
    assert offers_by_agent(first) == {"a1": "f1"}  # shares 0 and 0: ties by name
    decline(alloc, first, seconds=100, now=0)
    assert offers_by_agent(alloc.allocate(now=1)) == {"a1": "f2"}


def test_decline_without_filter_reoffers_at_once() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    for seconds in (None, 0, -1, float("nan")):
        offers = alloc.allocate(now=0)
        assert offers_by_agent(offers) == {"a1": "f1"}
        decline(alloc, offers, seconds=seconds, now=0)


def test_filter_only_blocks_subsets_of_what_was_declined() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    alloc.add_used("f1", "a1", "*", R("cpus:2"))
    offers = alloc.allocate(now=0)
    assert offers[0].resources == R("cpus:2;mem:1024")
    decline(alloc, offers, seconds=100, now=0)
    assert alloc.allocate(now=1) == []
    # A task finishes: the free pool grows beyond what was declined, so it is offered.
    alloc.recover_resources("f1", "a1", "*", R("cpus:2"), refuse_seconds=None, now=2)
    assert alloc.allocate(now=2) == [Allocation("f1", "a1", "*", AGENT)]


def test_revive_clears_filters() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    decline(alloc, alloc.allocate(now=0), seconds=1e9, now=0)
    assert alloc.allocate(now=1) == []
    alloc.revive("f1")
    assert offers_by_agent(alloc.allocate(now=2)) == {"a1": "f1"}


def test_suppress_stops_offers_and_revive_resumes() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.suppress("f1")
    alloc.add_agent("a1", AGENT)
    assert alloc.allocate(now=0) == []
    assert not alloc.has_work()
    alloc.revive("f1")
    assert offers_by_agent(alloc.allocate(now=1)) == {"a1": "f1"}


def test_suppress_one_role_only() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["web", "batch"])
    alloc.suppress("f1", ["web"])
    alloc.add_agent("a1", AGENT)
    assert [(o.framework_id, o.role) for o in alloc.allocate(now=0)] == [("f1", "batch")]


def test_deactivated_agent_gets_no_offers() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    alloc.deactivate_agent("a1")
    assert alloc.allocate(now=0) == []
    alloc.activate_agent("a1")
    assert offers_by_agent(alloc.allocate(now=1)) == {"a1": "f1"}


def test_unreachable_agent_gets_no_offers_and_reachability_is_apart_from_activation() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    alloc.set_agent_reachable("a1", False)
    assert alloc.allocate(now=0) == []
    alloc.deactivate_agent("a1")
    alloc.set_agent_reachable("a1", True)  # back, but still deactivated by an operator
    assert alloc.allocate(now=1) == []
    alloc.set_agent_reachable("a1", False)
    alloc.activate_agent("a1")  # reactivated, but still unreachable
    assert alloc.allocate(now=2) == []
    alloc.set_agent_reachable("a1", True)
    assert offers_by_agent(alloc.allocate(now=3)) == {"a1": "f1"}


def test_deactivated_framework_gets_nothing_but_keeps_its_allocation() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_framework("f2", ["*"], active=False)
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", AGENT)
    assert offers_by_agent(alloc.allocate(now=0)) == {"a1": "f1", "a2": "f1"}
    alloc.deactivate_framework("f1")
    alloc.recover_resources("f1", "a1", "*", AGENT, refuse_seconds=None, now=1)
    assert alloc.allocate(now=1) == []
    assert alloc.allocated("f1") == AGENT  # a2 is still held
    alloc.activate_framework("f2")
    assert offers_by_agent(alloc.allocate(now=2)) == {"a1": "f2"}


def test_free_resources_below_min_allocatable_are_not_offered() -> None:
    alloc = Allocator()  # default: cpus:0.01 or mem:32
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", R("cpus:0.005;mem:16"))
    assert alloc.allocate(now=0) == []
    alloc.add_agent("a2", R("cpus:0.005;mem:32"))
    assert offers_by_agent(alloc.allocate(now=0)) == {"a2": "f1"}

    custom = Allocator(min_allocatable=[R("cpus:1;mem:1")])
    custom.add_framework("f1", ["*"])
    custom.add_agent("a1", R("cpus:0.5;mem:4096"))
    assert custom.allocate(now=0) == []


def test_recover_resources_returns_them_to_the_pool() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    alloc.allocate(now=0)
    alloc.recover_resources("f1", "a1", "*", R("cpus:1;mem:256"), refuse_seconds=None, now=1)
    assert alloc.agent_free("a1") == R("cpus:1;mem:256")
    assert alloc.allocated("f1") == R("cpus:3;mem:768")
    # Recovering more than is held only returns what is held.
    alloc.recover_resources("f1", "a1", "*", R("cpus:10;mem:10000"), refuse_seconds=None, now=1)
    assert alloc.agent_free("a1") == AGENT
    assert alloc.allocated("f1") == Resources()


def test_removing_a_framework_frees_its_allocations() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_framework("f2", ["*"])
    alloc.add_agent("a1", AGENT)
    alloc.add_used("f1", "a1", "*", AGENT)
    assert alloc.allocate(now=0) == []
    alloc.remove_framework("f1")
    assert alloc.agent_free("a1") == AGENT
    assert offers_by_agent(alloc.allocate(now=1)) == {"a1": "f2"}
    with pytest.raises(KeyError, match="unknown framework 'f1'"):
        alloc.suppress("f1")


def test_removing_an_agent_removes_its_resources_everywhere() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["*"])
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", AGENT)
    alloc.add_used("f1", "a1", "*", R("cpus:1"))
    alloc.remove_agent("a1")
    assert alloc.cluster_total() == AGENT
    assert alloc.allocated("f1") == Resources()
    assert offers_by_agent(alloc.allocate(now=0)) == {"a2": "f1"}


def test_agent_with_used_resources_from_an_unknown_framework() -> None:
    # After a master failover agents may re-register before their frameworks do.
    alloc = Allocator()
    alloc.add_agent("a1", AGENT, {("old", "*"): R("cpus:3")})
    alloc.add_framework("old", ["*"])
    assert alloc.allocated("old") == R("cpus:3")
    assert alloc.allocate(now=0) == [Allocation("old", "a1", "*", R("cpus:1;mem:1024"))]


def test_update_framework_roles_moves_offers_to_the_new_role() -> None:
    alloc = Allocator()
    alloc.add_framework("f1", ["a"])
    alloc.update_framework_roles("f1", ["b"])
    alloc.add_agent("a1", AGENT)
    assert [o.role for o in alloc.allocate(now=0)] == ["b"]


def test_bad_weights_are_rejected() -> None:
    alloc = Allocator()
    with pytest.raises(ValueError, match="weight of role 'r' must be a finite number > 0"):
        alloc.update_weights({"r": 0})


def test_agent_order_is_seeded() -> None:
    def order(seed: int) -> list[str]:
        alloc = Allocator(seed=seed)
        for i in range(20):
            alloc.add_framework(f"f{i:02d}", ["*"])
            alloc.add_agent(f"a{i:02d}", AGENT)
        return [o.agent_id for o in alloc.allocate(now=0)]

    assert order(3) == order(3)
    assert order(3) != order(4)


def test_agent_filtered_by_almost_everyone_still_goes_in_drf_order() -> None:
    # 60 frameworks decline agent "a" for good, one per cycle. All have share 0 except
    # "f50" (cpus:1 of 12 elsewhere) and "f07" (cpus:2 of 12), so the offers go by name,
    # then to "f50", then "f07", then to nobody; past the first few dozen filters the
    # allocator finds the taker among the few willing frameworks rather than walking.
    alloc = Allocator()
    names = [f"f{i:02d}" for i in range(60)]
    for name in names:
        alloc.add_framework(name, ["*"])
    alloc.add_agent("a", AGENT)
    held = {("f07", "*"): R("cpus:2"), ("f50", "*"): R("cpus:1")}
    alloc.add_agent("other", R("cpus:8;mem:1024"), held)
    alloc.deactivate_agent("other")
    expected = [n for n in names if n not in ("f07", "f50")] + ["f50", "f07"]
    seen = []
    for now in range(len(names) + 1):
        offers = alloc.allocate(float(now))
        seen += [o.framework_id for o in offers]
        decline(alloc, offers, 1e9, float(now))
    assert seen == expected


def test_filters_are_invisible_to_the_garbage_collector_and_specs_are_forgotten() -> None:
    # Millions of filters must not be walked by every full collection: an agent's filter
    # dict holds only shared client tuples and spec numbers, which the collector untracks.
    import gc

    alloc = Allocator()
    for i in range(50):
        alloc.add_framework(f"f{i}", ["*"])
    alloc.add_agent("a", AGENT)
    for now in range(50):
        decline(alloc, alloc.allocate(float(now)), 100.0 + now, float(now))
    gc.collect()
    filters = alloc._agents["a"].filters
    assert len(filters) == 50
    assert not gc.is_tracked(filters._by_client)
    assert len(alloc._specs) == 50  # one per deadline
    for i in range(50):
        alloc.revive(f"f{i}")
    assert len(alloc._specs) == 0
