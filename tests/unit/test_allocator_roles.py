"""Hierarchical roles: DRF among siblings first, then down the tree; weights per path."""

from __future__ import annotations

import pytest

from mesospy.allocator import Allocator
from mesospy.allocator.roles import RoleTree, ancestors
from mesospy.master.validation import role_problem
from mesospy.resources import Resources

R = Resources.parse


def tree(allocations: dict[str, str], total: str = "cpus:100;mem:1000") -> RoleTree:
    roles = RoleTree()
    roles.add_total(R(total))
    for role, held in allocations.items():
        roles.add(role)
        roles.allocated(role, R(held))
    return roles


def test_siblings_first_then_down_the_tree() -> None:
    # eng holds 15 + 10 = 25 cpus, web 20: web (0.20) comes before the eng subtree (0.25),
    # though each of eng's roles alone holds less than web (flat DRF would put them first).
    roles = tree({"web": "cpus:20", "eng/dev": "cpus:15", "eng/ops": "cpus:10"})
    assert roles.sort() == ["web", "eng/ops", "eng/dev"]
    assert roles.share("eng") == pytest.approx(0.25)
    assert roles.allocation("eng") == R("cpus:25")


def test_a_childs_allocation_counts_towards_every_ancestor() -> None:
    roles = tree({"a/b/c": "cpus:30", "a/x": "cpus:5", "z": "cpus:20"})
    assert roles.allocation("a") == R("cpus:35")
    assert roles.allocation("a/b") == R("cpus:30")
    assert roles.sort() == ["z", "a/x", "a/b/c"]
    roles.unallocated("a/b/c", R("cpus:30"))
    assert roles.allocation("a") == R("cpus:5")
    assert roles.sort() == ["a/b/c", "a/x", "z"]  # a (0.05) < z (0.2); in a: b (0) < x


def test_weights_apply_among_siblings_of_the_same_parent() -> None:
    # eng/dev 30 cpus at weight 3 (0.3 / 3 = 0.1) comes before eng/ops 20 at weight 1 (0.2).
    roles = tree({"eng/dev": "cpus:30", "eng/ops": "cpus:20"})
    assert roles.sort() == ["eng/ops", "eng/dev"]
    roles.update_weight("eng/dev", 3.0)
    assert roles.sort() == ["eng/dev", "eng/ops"]


def test_a_role_with_clients_and_children_is_a_leaf_among_its_children() -> None:
    roles = tree({"eng": "cpus:10", "eng/dev": "cpus:5", "web": "cpus:20"})
    # eng's subtree holds 15 < web's 20; inside eng, dev (5) before eng's own (10).
    assert roles.sort() == ["eng/dev", "eng", "web"]
    assert roles.allocation("eng") == R("cpus:15")
    roles.unallocated("eng/dev", R("cpus:5"))
    roles.remove("eng/dev")  # eng is a plain leaf again, keeping its own allocation
    assert roles.sort() == ["eng", "web"]
    assert roles.allocation("eng") == R("cpus:10")
    roles.add("eng/dev")
    assert roles.allocation("eng") == R("cpus:10")
    assert roles.sort() == ["eng/dev", "eng", "web"]


def test_removing_the_last_role_of_a_subtree_removes_its_ancestors() -> None:
    roles = tree({"a/b/c": "cpus:0.5", "d": "cpus:1"})
    roles.unallocated("a/b/c", R("cpus:0.5"))
    roles.remove("a/b/c")
    assert roles.sort() == ["d"]
    assert roles.allocation("a") == Resources()
    assert roles.allocated_total() == R("cpus:1")


def test_ancestors_from_the_top() -> None:
    assert ancestors("a/b/c") == ["a", "a/b", "a/b/c"]
    assert ancestors("web") == ["web"]


def test_allocator_offers_in_hierarchical_order() -> None:
    alloc = Allocator()
    alloc.add_framework("dev", ["eng/dev"])
    alloc.add_framework("ops", ["eng/ops"])
    alloc.add_framework("web", ["web"])
    alloc.add_agent("a0", R("cpus:27"), {("dev", "eng/dev"): R("cpus:15")})
    alloc.add_used("ops", "a0", "eng/ops", R("cpus:10"))
    alloc.add_used("web", "a0", "web", R("cpus:2"))
    alloc.add_agent("a1", R("cpus:10"))
    alloc.add_agent("a2", R("cpus:10"))
    # Total 47 cpus: eng 25/47 = 0.53, web 2/47. Web takes the first agent; then it holds
    # 12/47 = 0.26, still below the eng subtree: web takes the second too. (Flat DRF would
    # give the second to eng/ops, whose 10/47 = 0.21 alone is below web's.)
    offers = alloc.allocate(now=0)
    assert [o.framework_id for o in offers] == ["web", "web"]
    assert alloc.role_share("eng") == pytest.approx(25 / 47)


def test_a_framework_in_several_hierarchical_roles_is_offered_for_each() -> None:
    alloc = Allocator()
    alloc.add_framework("f", ["eng/dev", "eng/ops"])
    alloc.add_agent("a0", R("cpus:4;mem:100"))
    alloc.add_agent("a1", R("cpus:4;mem:100"))
    offers = alloc.allocate(now=0)
    assert sorted(o.role for o in offers) == ["eng/dev", "eng/ops"]
    assert alloc.allocated("f") == R("cpus:8;mem:200")
    for o in offers:
        alloc.recover_resources(
            o.framework_id, o.agent_id, o.role, o.resources, refuse_seconds=None, now=1
        )
    alloc.remove_framework("f")
    assert alloc.role_share("eng") == 0.0


@pytest.mark.parametrize("role", ["*", "eng", "eng/dev", "a/b/c", "team-1/x.y", "ab.c/d"])
def test_valid_role_names(role: str) -> None:
    assert role_problem(role) is None


@pytest.mark.parametrize(
    ("role", "says"),
    [
        ("", "not valid"),
        ("/eng", "start or end with '/'"),
        ("eng/", "start or end with '/'"),
        ("eng//dev", "empty path segment"),
        ("eng/./dev", "may not be '.'"),
        ("..", "may not be '..'"),
        ("eng/*", "may not be '*'"),
        ("-eng", "start with '-'"),
        ("eng/-dev", "start with '-'"),
        ("eng dev", "whitespace"),
        ("eng\\dev", "whitespace"),
        ("eng\tdev", "whitespace"),
    ],
)
def test_invalid_role_names_say_why(role: str, says: str) -> None:
    problem = role_problem(role)
    assert problem is not None and says in problem
