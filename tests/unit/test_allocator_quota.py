"""Quota in the allocator, as a specification: limits, guarantees, headroom (plain data)."""

from __future__ import annotations

import pytest

from mesospy.allocator import Allocation, Allocator, Quota
from mesospy.allocator.quota import guarantee_overcommit, quota_problems
from mesospy.resources import Resources

R = Resources.parse


def keep(alloc: Allocator, now: float = 0) -> list[Allocation]:
    """One cycle whose offers the frameworks keep (as if tasks used them)."""
    return alloc.allocate(now)


def cpus(offers: list[Allocation], role_prefix: str = "") -> float:
    return sum(o.resources.cpus for o in offers if o.role.startswith(role_prefix))


def cluster(n_agents: int, agent: str = "cpus:4;mem:1024") -> Allocator:
    alloc = Allocator()
    for i in range(n_agents):
        alloc.add_agent(f"a{i}", R(agent))
    return alloc


# ---------------------------------------------------------------------- limits


def test_a_role_is_never_offered_beyond_its_limit() -> None:
    alloc = cluster(3)
    alloc.update_quota("eng", Quota(limits={"cpus": 6}))
    alloc.add_framework("f", ["eng"])
    offers = keep(alloc)
    # One whole agent (4 cpus), one cut to 2 cpus (its mem whole: mem is not limited),
    # and the third agent's mem alone.
    assert cpus(offers) == 6
    assert alloc.role_consumed("eng").cpus == 6
    assert sorted(o.resources.cpus for o in offers) == [0, 2, 4]
    assert keep(alloc, 1) == []


def test_a_limit_on_several_resources_caps_each() -> None:
    alloc = cluster(4)
    alloc.update_quota("eng", Quota(limits={"cpus": 6, "mem": 1536}))
    alloc.add_framework("f", ["eng"])
    keep(alloc)
    assert alloc.role_consumed("eng") == R("cpus:6;mem:1536")


def test_a_childs_allocation_counts_towards_its_parents_limit() -> None:
    alloc = cluster(4)
    alloc.update_quota("eng", Quota(limits={"cpus": 6}))
    alloc.add_framework("dev", ["eng/dev"])
    alloc.add_framework("ops", ["eng/ops/db"])
    alloc.add_framework("web", ["web"])
    offers = keep(alloc)
    assert cpus(offers, "eng") == 6  # dev and ops together
    assert alloc.role_consumed("eng/dev").cpus + alloc.role_consumed("eng/ops").cpus == 6
    assert cpus(offers, "web") == 10  # the rest goes to the role without quota


def test_a_child_limit_below_the_parents_also_holds() -> None:
    alloc = cluster(4)
    alloc.update_quota("eng", Quota(limits={"cpus": 10}))
    alloc.update_quota("eng/dev", Quota(limits={"cpus": 3}))
    alloc.add_framework("dev", ["eng/dev"])
    keep(alloc)
    assert alloc.role_consumed("eng/dev").cpus == 3


def test_room_freed_under_a_limit_is_offered_again() -> None:
    alloc = cluster(2)
    alloc.update_quota("eng", Quota(limits={"cpus": 4}))
    alloc.add_framework("f", ["eng"])
    first = keep(alloc)
    whole = next(o for o in first if o.resources.cpus == 4)
    assert keep(alloc, 1) == []
    alloc.recover_resources("f", whole.agent_id, "eng", whole.resources, refuse_seconds=None, now=1)
    again = keep(alloc, 2)
    assert cpus(again) == 4


def test_declining_a_cut_offer_filters_the_agent_instead_of_offering_it_forever() -> None:
    alloc = cluster(1)
    alloc.update_quota("eng", Quota(limits={"cpus": 1}))
    alloc.add_framework("f", ["eng"])
    (offer,) = keep(alloc)
    assert offer.resources == R("cpus:1;mem:1024")
    alloc.recover_resources("f", "a0", "eng", offer.resources, refuse_seconds=60, now=0)
    assert alloc.allocate(1) == []
    assert [o.resources for o in alloc.allocate(61)] == [offer.resources]


def test_removing_a_quota_lifts_the_limit() -> None:
    alloc = cluster(2)
    alloc.update_quota("eng", Quota(limits={"cpus": 2}))
    alloc.add_framework("f", ["eng"])
    keep(alloc)
    alloc.update_quota("eng", Quota())
    keep(alloc, 1)
    assert alloc.role_consumed("eng").cpus == 8
    assert alloc.quotas() == {}


# ---------------------------------------------------------------------- guarantees


def test_guarantees_are_met_before_fair_share() -> None:
    # prod already holds 6 of 16 cpus; fair share alone would give the next agents to
    # batch (share 0). prod's guarantee of 10 cpus comes first: it gets 4 more.
    alloc = Allocator()
    alloc.add_agent("busy", R("cpus:6;mem:600"), {("p", "prod"): R("cpus:6;mem:600")})
    alloc.add_agent("a1", R("cpus:4;mem:200"))
    alloc.add_agent("a2", R("cpus:6;mem:200"))
    alloc.update_quota("prod", Quota(guarantees={"cpus": 10}))
    alloc.add_framework("p", ["prod"])
    alloc.add_framework("b", ["batch"])
    offers = keep(alloc)
    assert alloc.role_consumed("prod").cpus == 10
    assert cpus(offers, "batch") == 6


def test_a_guarantee_offer_is_cut_to_what_the_role_lacks() -> None:
    alloc = cluster(1, "cpus:8;mem:1024")
    alloc.update_quota("prod", Quota(guarantees={"cpus": 3}))
    alloc.add_framework("p", ["prod"])
    alloc.add_framework("b", ["batch"])
    offers = {o.role: o.resources for o in keep(alloc)}
    # Stage 1 gives prod the 3 cpus it lacks (and the mem, which no one is guaranteed);
    # stage 2 the other 5 cpus to the fairest, batch.
    assert offers == {"prod": R("cpus:3;mem:1024"), "batch": R("cpus:5")}


def test_headroom_is_kept_for_a_guarantee_no_one_is_using() -> None:
    alloc = cluster(4)  # 16 cpus
    alloc.update_quota("prod", Quota(guarantees={"cpus": 8}))
    alloc.add_framework("b", ["batch"])
    keep(alloc)
    assert alloc.role_consumed("batch").cpus == 8  # 8 stay unallocated for prod
    alloc.add_framework("p", ["prod"])  # prod's framework arrives: its 8 are there
    keep(alloc, 1)
    assert alloc.role_consumed("prod").cpus == 8


def test_headroom_counts_a_parents_and_its_childrens_guarantees_once() -> None:
    alloc = cluster(5)  # 20 cpus
    alloc.update_quota("eng", Quota(guarantees={"cpus": 8}))
    alloc.update_quota("eng/dev", Quota(guarantees={"cpus": 6}))
    alloc.add_framework("b", ["batch"])
    keep(alloc)
    assert alloc.role_consumed("batch").cpus == 12  # eng's 8 (dev's 6 within them) kept


def test_a_childs_guarantee_is_kept_even_when_a_sibling_meets_the_parents() -> None:
    alloc = cluster(5)  # 20 cpus
    alloc.update_quota("eng/dev", Quota(guarantees={"cpus": 4}))
    alloc.add_framework("ops", ["eng/ops"])
    keep(alloc)
    assert alloc.role_consumed("eng/ops").cpus == 16
    alloc.add_framework("dev", ["eng/dev"])
    keep(alloc, 1)
    assert alloc.role_consumed("eng/dev").cpus == 4


def test_a_guarantee_met_by_tasks_keeps_no_headroom() -> None:
    alloc = Allocator()
    alloc.add_agent("busy", R("cpus:4"), {("p", "prod"): R("cpus:4")})
    alloc.add_agent("a1", R("cpus:4"))
    alloc.update_quota("prod", Quota(guarantees={"cpus": 4}))
    alloc.add_framework("b", ["batch"])
    keep(alloc)
    assert alloc.role_consumed("batch").cpus == 4


# ---------------------------------------------------------------------- validation


def test_a_guarantee_above_its_limit_is_refused() -> None:
    problems = quota_problems("eng", Quota({"cpus": 8}, {"cpus": 4}), {})
    assert problems == [
        "guarantee cpus:8 is above the limit cpus:4 (a guarantee must be <= its limit)"
    ]


@pytest.mark.parametrize(
    ("quota", "says"),
    [
        (Quota({"cpu": 1}), "unknown resource 'cpu'; known: cpus, mem, disk, gpus"),
        (Quota(limits={"mem": -1}), "mem:-1 must be a finite number >= 0"),
        (Quota(limits={"mem": float("nan")}), "must be a finite number >= 0"),
    ],
)
def test_bad_values_are_refused(quota: Quota, says: str) -> None:
    assert any(says in p for p in quota_problems("eng", quota, {}))


def test_the_default_role_has_no_quota() -> None:
    assert "role '*' cannot have quota" in quota_problems("*", Quota({"cpus": 1}), {})[0]


def test_a_childs_limit_may_not_exceed_its_parents() -> None:
    parent = {"eng": Quota(limits={"cpus": 8})}
    assert quota_problems("eng/dev", Quota(limits={"cpus": 8}), parent) == []
    (problem,) = quota_problems("eng/dev", Quota(limits={"cpus": 9}), parent)
    assert "above the limit cpus:8 of the parent role 'eng'" in problem
    (problem,) = quota_problems(
        "eng", Quota(limits={"cpus": 2}), {"eng/dev": Quota(limits={"cpus": 3})}
    )
    assert "below the limit cpus:3 of the child role 'eng/dev'" in problem


def test_children_may_not_be_guaranteed_more_than_their_parent() -> None:
    quotas = {"eng": Quota({"cpus": 8}), "eng/dev": Quota({"cpus": 5})}
    (problem,) = quota_problems("eng/ops", Quota({"cpus": 4}), quotas)
    assert "child roles of 'eng' are guaranteed cpus:9 together" in problem
    assert quota_problems("eng/ops", Quota({"cpus": 3}), quotas) == []


def test_overcommit_says_by_how_much_per_resource() -> None:
    quotas = {
        "eng": Quota({"cpus": 8}),
        "eng/dev": Quota({"cpus": 6, "mem": 100}),
        "web": Quota({"cpus": 10}),
    }
    assert guarantee_overcommit(quotas, R("cpus:20;mem:1000")) == {}
    assert guarantee_overcommit(quotas, R("cpus:12;mem:50")) == {"cpus": 6.0, "mem": 50.0}


def test_what_a_cut_offer_leaves_skips_a_client_whose_filter_covers_the_rest() -> None:
    alloc = cluster(1)  # cpus:4;mem:1024
    alloc.update_quota("a", Quota(limits={"cpus": 1}))
    for name in ("a", "b", "c"):  # equal shares: DRF order a, b, c
        alloc.add_framework(f"f{name}", [name])
    # fb declined cpus:3 here: its filter does not cover the whole pool, but the 3 cpus
    # that the limit of a leaves over.
    alloc.recover_resources("fb", "a0", "b", R("cpus:3"), refuse_seconds=100, now=0)
    offers = {o.framework_id: o.resources for o in alloc.allocate(1)}
    assert offers == {"fa": R("cpus:1;mem:1024"), "fc": R("cpus:3")}
