"""Reservations in the allocator, as a specification (plain data, Mesos 1.9 semantics).

Resources reserved for a role are offered only to frameworks in that role or below it,
with their reservation; nobody else ever sees them. For quota, a role consumes what it is
offered or uses plus what is reserved for its subtree and unallocated; those reservations
meet its guarantee and are not counted a second time as headroom.
"""

from __future__ import annotations

from mesospy.allocator import Allocation, Allocator, Quota
from mesospy.resources import Resources

R = Resources.parse

MIXED = "cpus(eng):2;mem(eng):512;cpus:2;mem:512"


def offers_by_framework(offers: list[Allocation]) -> dict[str, Resources]:
    out: dict[str, Resources] = {}
    for o in offers:
        out[o.framework_id] = out.get(o.framework_id, R("")) + o.resources
    return out


def test_reserved_resources_go_to_their_role_with_the_reservation() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R(MIXED))
    alloc.add_framework("e", ["eng"])
    (offer,) = alloc.allocate(0)
    assert (offer.framework_id, offer.role) == ("e", "eng")
    assert offer.resources == R(MIXED)
    assert "cpus(eng):2" in str(offer.resources)
    wire = {(m.name, m.role): m for m in offer.resources.to_proto()}
    assert wire["cpus", "eng"].reservations[0].role == "eng"


def test_a_child_role_is_offered_what_is_reserved_for_its_parent() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R("cpus(eng):2;mem(eng):512"))
    alloc.add_framework("dev", ["eng/dev"])
    (offer,) = alloc.allocate(0)
    assert offer.role == "eng/dev"
    assert offer.resources == R("cpus(eng):2;mem(eng):512")


def test_siblings_parents_and_other_roles_never_see_a_reservation() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R("cpus(eng/dev):2;mem(eng/dev):512;cpus:1;mem:256"))
    for framework, role in (("parent", "eng"), ("sibling", "eng/ops"), ("other", "web")):
        alloc.add_framework(framework, [role])
    offers = alloc.allocate(0)
    assert all(not o.resources.has_reservations() for o in offers)
    assert sum(o.resources.cpus for o in offers) == 1  # the unreserved cpu, once
    # Nobody may take the rest: the agent is not offered again, and nothing is lost.
    assert alloc.allocate(1) == []
    assert alloc.agent_free("a") == R("cpus(eng/dev):2;mem(eng/dev):512")
    alloc.add_framework("dev", ["eng/dev"])
    (late,) = alloc.allocate(2)
    assert (late.framework_id, late.resources) == ("dev", R("cpus(eng/dev):2;mem(eng/dev):512"))


def test_the_unreserved_part_goes_by_drf_and_the_reserved_part_to_its_role() -> None:
    alloc = Allocator()
    alloc.add_agent("big", R("cpus:8;mem:2048"))
    alloc.add_framework("e", ["eng"])
    alloc.allocate(0)  # eng holds a big agent: web comes first in DRF order now
    alloc.add_agent("a", R(MIXED))
    alloc.add_framework("w", ["web"])
    by = {(o.framework_id, o.agent_id): o.resources for o in alloc.allocate(1)}
    assert by == {("w", "a"): R("cpus:2;mem:512"), ("e", "a"): R("cpus(eng):2;mem(eng):512")}
    assert alloc.agent_free("a") == R("")


def test_returned_reservations_are_offered_again_to_their_role_only() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R("cpus(eng):2;mem(eng):512"))
    alloc.add_framework("e", ["eng"])
    alloc.add_framework("w", ["web"])
    (offer,) = alloc.allocate(0)
    alloc.recover_resources("e", "a", "eng", offer.resources, refuse_seconds=None, now=0)
    alloc.suppress("e")
    assert alloc.allocate(1) == []
    alloc.revive("e")
    (again,) = alloc.allocate(2)
    assert again.framework_id == "e"


def test_a_decline_filter_holds_for_the_reserved_part() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R(MIXED))
    alloc.add_framework("e", ["eng"])
    (offer,) = alloc.allocate(0)
    alloc.recover_resources("e", "a", "eng", offer.resources, refuse_seconds=5, now=0)
    assert alloc.allocate(1) == []
    (later,) = alloc.allocate(6)
    assert later.resources == R(MIXED)


def test_tasks_found_on_reserved_resources_are_counted_as_used() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R(MIXED), {("e", "eng"): R("cpus(eng):1;mem(eng):128")})
    alloc.add_framework("e", ["eng"])
    (offer,) = alloc.allocate(0)
    assert offer.resources == R("cpus(eng):1;mem(eng):384;cpus:2;mem:512")


def test_update_agent_total_makes_new_reservations_offerable_to_their_role() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R("cpus:4;mem:1024"))
    alloc.add_framework("w", ["web"])
    alloc.add_framework("e", ["eng"])
    (offer,) = alloc.allocate(0)
    alloc.recover_resources(
        offer.framework_id, "a", offer.role, offer.resources, refuse_seconds=None, now=0
    )
    alloc.suppress("e")
    alloc.update_agent_total("a", R("cpus(eng):3;mem(eng):512;cpus:1;mem:512"))
    (web,) = alloc.allocate(1)
    assert (web.framework_id, web.resources) == ("w", R("cpus:1;mem:512"))
    alloc.revive("e")
    (eng,) = alloc.allocate(2)
    assert (eng.framework_id, eng.resources) == ("e", R("cpus(eng):3;mem(eng):512"))
    assert alloc.cluster_total().cpus == 4


# ---------------------------------------------------------------------- quota


def test_unallocated_reservations_count_towards_the_roles_consumption() -> None:
    alloc = Allocator()
    alloc.add_agent("a", R("cpus(eng/dev):2;mem(eng/dev):512;cpus:6;mem:1024"))
    assert alloc.role_consumed("eng/dev") == R("cpus(eng/dev):2;mem(eng/dev):512")
    assert alloc.role_consumed("eng").cpus == 2  # a child's reservation counts upwards
    assert alloc.role_consumed("eng/ops").cpus == 0
    alloc.add_framework("dev", ["eng/dev"])
    alloc.allocate(0)  # offered now: consumed once, not twice
    assert alloc.role_consumed("eng/dev").cpus == 8
    assert alloc.role_consumed("eng").cpus == 8


def test_reservations_count_against_the_limit_of_the_role() -> None:
    alloc = Allocator()
    alloc.add_agent("r", R("cpus(eng):3;mem(eng):256"))
    alloc.add_agent("u", R("cpus:8;mem:2048"))
    alloc.update_quota("eng", Quota(limits={"cpus": 5}))
    alloc.add_framework("e", ["eng"])
    offers = offers_by_framework(alloc.allocate(0))
    # 3 reserved (offered whatever the limit: consumed already) + 2 unreserved = 5.
    assert offers["e"].reserved() == R("cpus(eng):3;mem(eng):256")
    assert offers["e"].unreserved().cpus == 2
    assert alloc.role_consumed("eng").cpus == 5


def test_unused_reservations_still_count_against_the_limit() -> None:
    alloc = Allocator()
    alloc.add_agent("r", R("cpus(eng/dev):3;mem(eng/dev):256"))
    alloc.add_agent("u", R("cpus:8;mem:2048"))
    alloc.update_quota("eng", Quota(limits={"cpus": 5}))
    alloc.add_framework("ops", ["eng/ops"])  # dev's reservation is not for ops
    offers = alloc.allocate(0)
    assert sum(o.resources.cpus for o in offers) == 2
    assert alloc.role_consumed("eng").cpus == 5


def test_a_parents_reservation_is_offered_to_a_child_only_within_the_childs_limit() -> None:
    alloc = Allocator()
    alloc.add_agent("r", R("cpus(eng):4;mem(eng):256"))
    alloc.update_quota("eng/dev", Quota(limits={"cpus": 2}))
    alloc.add_framework("dev", ["eng/dev"])
    assert alloc.allocate(0) == []  # it would take dev to 4 cpus
    alloc.add_framework("e", ["eng"])
    (offer,) = alloc.allocate(1)
    assert offer.framework_id == "e"


def test_reservations_meet_a_guarantee_so_no_headroom_is_kept_for_it() -> None:
    # eng is guaranteed 4 cpus and has 4 reserved: nothing of the unreserved agent is kept
    # back for it, so web gets that agent whole.
    alloc = Allocator()
    alloc.add_agent("r", R("cpus(eng):4;mem(eng):512"))
    alloc.add_agent("u", R("cpus:4;mem:1024"))
    alloc.update_quota("eng", Quota(guarantees={"cpus": 4}))
    alloc.add_framework("w", ["web"])
    (offer,) = alloc.allocate(0)
    assert (offer.framework_id, offer.agent_id, offer.resources) == ("w", "u", R("cpus:4;mem:1024"))


def test_headroom_is_kept_for_what_reservations_leave_of_a_guarantee() -> None:
    # eng is guaranteed 6 cpus, 2 of them reserved: 4 unreserved are kept for it, and the
    # reserved cpus are not taken for headroom (they are nobody else's).
    alloc = Allocator()
    alloc.add_agent("r", R("cpus(eng):2;mem(eng):512"))
    alloc.add_agent("u1", R("cpus:4;mem:1024"))
    alloc.add_agent("u2", R("cpus:4;mem:1024"))
    alloc.update_quota("eng", Quota(guarantees={"cpus": 6}))
    alloc.add_framework("w", ["web"])
    offers = alloc.allocate(0)
    assert sum(o.resources.cpus for o in offers) == 4
    assert all(o.framework_id == "w" and not o.resources.has_reservations() for o in offers)
    alloc.add_framework("e", ["eng"])
    got = offers_by_framework(alloc.allocate(1))["e"]
    assert got.reserved().cpus == 2 and got.unreserved().cpus == 4
