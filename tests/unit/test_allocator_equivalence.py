"""The allocator's fast taker search gives exactly the offers of the obvious one.

`ObviousAllocator` picks each agent's taker by walking the hierarchical DRF order in
Python and asking each client's filter, as the module docstring describes the rule. Both
allocators get the same random events (many frameworks in weighted roles, declines with
whole and partial filters, expiries, suppress/revive, disconnects, tasks ending) and must
make the same offers in every cycle.
"""

from __future__ import annotations

import random

import pytest

from mesospy.allocator import Allocation, Allocator
from mesospy.allocator.allocator import _Agent
from mesospy.allocator.filters import Client
from mesospy.resources import Resources

R = Resources.parse


class ObviousAllocator(Allocator):
    def _pick(self, agent: _Agent, n_wanting: int, everyone_wants: bool) -> Client | None:
        for role in self._roles.sort():
            for client in self._by_role[role].sort():
                if client in self._wanting and not agent.filters.blocks(client, agent.free):
                    return client
        return None


FLAT_ROLES = ["*", "analytics", "web"]
# Siblings under two parents, a parent with frameworks of its own, and a deeper path.
TREE_ROLES = ["analytics", "eng/dev", "eng", "eng/ops/db", "web/front", "web/back"]


def _events(
    seed: int, n_frameworks: int, n_agents: int, cycles: int, roles: list[str] = FLAT_ROLES
) -> list[list[Allocation]]:
    rng = random.Random(seed)
    fast, slow = Allocator(seed=seed), ObviousAllocator(seed=seed)
    frameworks = [f"fw-{i:03d}" for i in range(n_frameworks)]
    both = (fast, slow)
    for alloc in both:
        alloc.update_weights({"analytics": 2.0, "eng/dev": 3.0})
        for i, fid in enumerate(frameworks):
            alloc.add_framework(fid, [roles[i % len(roles)]] if i % 7 else roles[:2])
        for a in range(n_agents):
            alloc.add_agent(f"agent-{a:03d}", R("cpus:8;mem:2048"))
    held: list[Allocation] = []  # offers accepted as "tasks", to end later
    history = []
    for now in range(cycles):
        offers = [alloc.allocate(float(now)) for alloc in both]
        assert offers[0] == offers[1], f"cycle {now}"
        history.append(offers[0])
        for offer in offers[0]:
            roll = rng.random()
            if roll < 0.15:  # accept part of it, decline the rest with a short filter
                used = R("cpus:1;mem:128")
                rest = offer.resources - used
                for alloc in both:
                    alloc.recover_resources(
                        offer.framework_id,
                        offer.agent_id,
                        offer.role,
                        rest,
                        refuse_seconds=3.0,
                        now=float(now),
                    )
                held.append(Allocation(offer.framework_id, offer.agent_id, offer.role, used))
            else:  # decline, mostly for long, sometimes only part of it, sometimes no filter
                refuse = rng.choice([1e9, 1e9, 1e9, 2.0, None])
                for alloc in both:
                    alloc.recover_resources(
                        offer.framework_id,
                        offer.agent_id,
                        offer.role,
                        offer.resources,
                        refuse_seconds=refuse,
                        now=float(now),
                    )
        if held and rng.random() < 0.5:  # a task ends
            done = held.pop(rng.randrange(len(held)))
            for alloc in both:
                alloc.recover_resources(
                    done.framework_id,
                    done.agent_id,
                    done.role,
                    done.resources,
                    refuse_seconds=None,
                    now=float(now),
                )
        fid = rng.choice(frameworks)
        action = rng.random()
        for alloc in both:
            if action < 0.05:
                alloc.suppress(fid)
            elif action < 0.08:
                alloc.revive(fid)
            elif action < 0.10:
                alloc.deactivate_framework(fid)
            elif action < 0.12:
                alloc.activate_framework(fid)
    return history


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_taker_search_matches_the_obvious_walk(seed: int) -> None:
    # 150 frameworks, so agents pass from scanning to their cached willing sets.
    history = _events(seed, n_frameworks=150, n_agents=12, cycles=400)
    assert sum(map(len, history)) > 1000  # offers were made throughout


@pytest.mark.parametrize("seed", [4, 5])
def test_fast_taker_search_matches_the_obvious_walk_over_a_role_tree(seed: int) -> None:
    history = _events(seed, n_frameworks=120, n_agents=12, cycles=300, roles=TREE_ROLES)
    assert {o.role for cycle in history for o in cycle} == set(TREE_ROLES)
