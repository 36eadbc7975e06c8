"""The hierarchical DRF allocator: events in, allocations out.

The master tells the allocator what happens (frameworks and agents come and go, offers are
declined, tasks finish) and calls `allocate(now)` to get the offers to make. The
allocator does no I/O and never reads a clock.

Each cycle offers every agent with free resources, whole, to the first client in
hierarchical DRF order (roles by weighted dominant share, then frameworks within the
role) that wants offers and has not filtered those resources on that agent.

Only agents that might be offerable are visited: an agent leaves the "dirty" set when it
is offered or found filtered by every client that wants offers, and comes back when its
free resources grow, one of its filters goes, or a client starts wanting offers.

Picking the taker scans the DRF order for the first client that wants offers and is not
filtered here, with C-level iteration over the sorters' client lists (tens of nanoseconds
per client passed over). An agent filtered by nearly every client instead gets its few
willing clients from its filters and takes the lowest of them, so the deep scans that
would cost most are never made.

Reservations (Mesos 1.9 semantics): resources reserved for a role are offered only to
frameworks in that role or a role below it (``eng/dev`` gets what is reserved for ``eng``),
and carry their reservation in the offer; what a role does not take stays on the agent,
never offered to another role. An agent with reserved resources free may therefore be cut
into several offers in one cycle, one per role that can use a part of it.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, filterfalse

from mesospy.allocator.filters import AgentFilters, Client, FilterSpec, FilterSpecs
from mesospy.allocator.quota import Quota, QuotaCycle
from mesospy.allocator.roles import RoleTree, ancestors, in_subtree
from mesospy.allocator.sorter import DRFSorter
from mesospy.resources import Resources

__all__ = ["DEFAULT_MIN_ALLOCATABLE", "Allocation", "Allocator"]

# As in Mesos: free resources are worth offering if they hold at least one of these.
DEFAULT_MIN_ALLOCATABLE: tuple[Resources, ...] = (
    Resources.parse("cpus:0.01"),
    Resources.parse("mem:32"),
)


# An agent with few willing clients (and many filters) gets them from its filters instead
# of scanning the DRF order past all the filtered ones. "Few" is 32 to 127, different per
# agent: building an agent's willing set costs one pass over every client that wants offers,
# and agents declined in step (a framework declining everything) would otherwise all build
# theirs in the same cycle.
_SCAN_WILLING_MIN, _SCAN_WILLING_SPREAD = 32, 96


@dataclass(frozen=True, slots=True)
class Allocation:
    """One offer to make: `resources` of `agent_id` to `framework_id` for `role`."""

    framework_id: str
    agent_id: str
    role: str
    resources: Resources


class _Agent:
    __slots__ = (
        "active",
        "capped",
        "filters",
        "free",
        "next_expiry",
        "reachable",
        "scan_willing",
        "total",
        "used",
    )

    def __init__(
        self, total: Resources, wanting: set[Client], specs: FilterSpecs, scan_willing: int
    ) -> None:
        self.total = total
        self.scan_willing = scan_willing  # see _SCAN_WILLING_MIN
        self.free = total
        self.used: dict[Client, Resources] = {}
        self.active = True  # not deactivated by an operator (maintenance, drain)
        self.reachable = True  # the master can talk to it
        self.filters = AgentFilters(wanting, specs)
        self.next_expiry = math.inf  # lower bound on its filters' deadlines
        # Clients holding an offer of this agent cut down by quota: declining one
        # filters the agent (see recover_resources).
        self.capped: set[Client] | None = None


# With quota an agent's free pool may be cut into parts for several roles: at most this
# many fair-share parts per agent and cycle (the rest waits for the next cycle).
_MAX_PARTS = 4


# What a role may be offered of an agent's free pool (None: nothing).
OfferFor = Callable[[str, Resources], Resources | None]


# A framework lists the agents it put filters on while they are at most this many (or an
# eighth of the agents): after a failover a framework declines a few agents' offers before
# it suppresses, and visiting only those is what makes its suppress cheap; one that
# filtered most of the cluster (Mesos's DeclineOffers benchmark) visits every agent
# instead, without the memory of a list per framework as long as the cluster.
FILTER_AGENTS_MAX = 256


class _Framework:
    __slots__ = (
        "active",
        "filter_agents",
        "filter_roles",
        "known",
        "n_filters",
        "roles",
        "suppressed",
        "wanting",
    )

    def __init__(self) -> None:
        self.roles: list[str] = []
        self.suppressed: set[str] = set()
        self.active = False
        self.known = False  # False: only seen through resources it uses (master failover)
        self.n_filters = 0
        self.filter_roles: set[str] = set()  # roles it ever installed filters for
        # Agents it ever installed filters on (since its filters were last cleared): what
        # a change of its wanting or a revive visits, not every agent. None: too many to
        # list (see FILTER_AGENTS_MAX), every agent is visited.
        self.filter_agents: set[str] | None = set()
        self.wanting: set[Client] = set()  # its clients in Allocator._wanting


class Allocator:
    """Hierarchical weighted DRF over roles, then frameworks; see the module docstring."""

    def __init__(
        self, *, min_allocatable: Sequence[Resources] = DEFAULT_MIN_ALLOCATABLE, seed: int = 0
    ) -> None:
        self._min_allocatable = tuple(min_allocatable)
        self._rng = random.Random(seed)
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, _Framework] = {}
        self._roles = RoleTree()  # hierarchical: eng, eng/dev, ...
        self._by_role: dict[str, DRFSorter[Client]] = {}  # role -> its (framework, role)s
        self._weights: dict[str, float] = {}
        self._total = Resources.EMPTY
        self._wanting: set[Client] = set()
        self._wanting_version = 0  # bumped whenever _wanting changes
        # One tuple per client, shared by every filter and allocation that names it: millions
        # of fresh tuples would make the garbage collector's full passes take seconds.
        self._clients: dict[Client, Client] = {}
        self._offerable: set[str] = set()  # active agents with allocatable free resources
        self._dirty: set[str] = set()  # of those, the ones worth looking at next cycle
        self._expiries: list[tuple[float, str]] = []  # (deadline, agent): lazy heap
        self._last_spec: FilterSpec | None = None
        self._specs = FilterSpecs()
        # Quota by role: (guarantees, limits) in thousandths, and the Quota as given.
        self._quotas: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        self._quota_given: dict[str, Quota] = {}
        # Agents left with free resources that quota kept from everyone: looked at again
        # once a role under quota gives something back (see _release).
        self._starved: set[str] = set()
        self._quota_relaxed = False
        # Reserved resources free on the agents, by the role they are reserved for: they
        # count towards that role's quota consumption while unallocated (Mesos 1.9).
        self._reserved_free: dict[str, Resources] = {}

    # ------------------------------------------------------------------ frameworks

    def add_framework(
        self,
        framework_id: str,
        roles: Sequence[str],
        *,
        suppressed_roles: Sequence[str] = (),
        active: bool = True,
    ) -> None:
        """Start tracking a framework subscribed to `roles`."""
        fw = self._frameworks.get(framework_id)
        if fw is not None and fw.known:
            raise ValueError(f"framework {framework_id!r} is already added")
        if fw is None:
            fw = self._frameworks[framework_id] = _Framework()
        fw.known = True
        fw.active = active
        fw.suppressed = set(suppressed_roles)
        self._set_roles(framework_id, fw, roles)

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework: its allocations return to the agents, its filters go."""
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return
        self._clear_filters(framework_id, fw)
        fw.active = False
        self._refresh_wanting(framework_id, fw)
        roles, fw.roles = fw.roles, []
        for agent_id, agent in self._agents.items():
            for client in [c for c in agent.used if c[0] == framework_id]:
                self._release(agent_id, agent, client, agent.used[client])
        for role in roles:
            self._drop_client_if_idle(framework_id, role)
        del self._frameworks[framework_id]

    def activate_framework(self, framework_id: str) -> None:
        """The framework (re)connected: it gets offers again."""
        fw = self._framework(framework_id)
        fw.active = True
        self._refresh_wanting(framework_id, fw)

    def deactivate_framework(self, framework_id: str) -> None:
        """The framework disconnected: no offers, but it keeps what it has."""
        fw = self._framework(framework_id)
        fw.active = False
        self._refresh_wanting(framework_id, fw)

    def update_framework_roles(self, framework_id: str, roles: Sequence[str]) -> None:
        """Change the roles a framework is subscribed to."""
        self._set_roles(framework_id, self._framework(framework_id), roles)

    def suppress(self, framework_id: str, roles: Sequence[str] = ()) -> None:
        """Stop offers to the framework for `roles` (all of its roles when empty)."""
        fw = self._framework(framework_id)
        fw.suppressed |= set(roles or fw.roles)
        self._refresh_wanting(framework_id, fw)

    def revive(self, framework_id: str, roles: Sequence[str] = ()) -> None:
        """Resume offers for `roles` (all when empty) and clear all the framework's filters."""
        fw = self._framework(framework_id)
        fw.suppressed -= set(roles or fw.roles)
        self._clear_filters(framework_id, fw)
        self._refresh_wanting(framework_id, fw)

    def update_weights(self, weights: Mapping[str, float]) -> None:
        """Set role weights (a role's default is 1); a role of weight 2 deserves twice
        the dominant share of a sibling of weight 1 (`eng/dev` against `eng/ops`)."""
        for role, weight in weights.items():
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"weight of role {role!r} must be a finite number > 0")
        for role, weight in weights.items():
            self._weights[role] = weight
            self._roles.update_weight(role, weight)

    def update_quota(self, role: str, quota: Quota) -> None:
        """Set the role's guarantees and limits (an empty quota removes it); checks of
        the values (see `quota.quota_problems`) are the caller's."""
        if quota.is_empty():
            self._quotas.pop(role, None)
            self._quota_given.pop(role, None)
        else:
            self._quota_given[role] = quota
            self._quotas[role] = (
                {n: round(v * 1000) for n, v in quota.guarantees.items() if v > 0},
                {n: round(v * 1000) for n, v in quota.limits.items()},
            )
        self._starved.clear()
        self._dirty |= self._offerable  # what may be offered to whom has changed

    def quotas(self) -> dict[str, Quota]:
        """The quota of every role that has one."""
        return dict(self._quota_given)

    def role_consumed(self, role: str) -> Resources:
        """What counts towards the role's quota: offered to or used by it and its children,
        and what is reserved for them and not allocated (Mesos 1.9's consumed quota)."""
        consumed = self._roles.allocation(role)
        for reserved_for, resources in self._reserved_free.items():
            if in_subtree(reserved_for, role):
                consumed = consumed + resources
        return consumed

    # ------------------------------------------------------------------ agents

    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        used: Mapping[tuple[str, str], Resources] | None = None,
    ) -> None:
        """Start tracking an agent; `used` is keyed by (framework_id, role)."""
        if agent_id in self._agents:
            raise ValueError(f"agent {agent_id!r} is already added")
        spread = (len(self._agents) * 37) % _SCAN_WILLING_SPREAD
        agent = self._agents[agent_id] = _Agent(
            total, self._wanting, self._specs, _SCAN_WILLING_MIN + spread
        )
        self._track_reserved(Resources.EMPTY, total)
        self._change_total(total, 1)
        if self._quotas:
            self._quota_relaxed = True  # a bigger cluster: more spare beyond the headroom
        for (framework_id, role), resources in (used or {}).items():
            self._count_used(agent, framework_id, role, resources)
        self._update_offerable(agent_id, agent)

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent and what is allocated on it."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        for client, resources in list(agent.used.items()):
            self._release(agent_id, agent, client, resources)
        for client in agent.filters.clients():
            self._remove_filter(agent, client)
        self._track_reserved(agent.free, Resources.EMPTY)
        for fw in self._frameworks.values():  # also those whose filters here expired
            if fw.filter_agents is not None:
                fw.filter_agents.discard(agent_id)
        self._change_total(agent.total, -1)
        del self._agents[agent_id]
        self._offerable.discard(agent_id)
        self._dirty.discard(agent_id)

    def update_agent_total(self, agent_id: str, total: Resources) -> None:
        """The agent's resources changed in place (e.g. a dynamic reservation turned some
        unreserved ones into reserved): its free pool becomes `total` minus what is in use
        there, which stays allocated as it is."""
        agent = self._agents[agent_id]
        self._change_total(agent.total, -1)
        agent.total = total
        self._change_total(total, 1)
        self._set_free(agent, total - Resources.total(agent.used.values()))
        if self._quotas:
            self._quota_relaxed = True
        self._update_offerable(agent_id, agent)

    def activate_agent(self, agent_id: str) -> None:
        """Offer the agent's resources again (end of maintenance)."""
        agent = self._agents[agent_id]
        agent.active = True
        self._update_offerable(agent_id, agent)

    def deactivate_agent(self, agent_id: str) -> None:
        """Never offer this agent's resources (drain, maintenance)."""
        agent = self._agents[agent_id]
        agent.active = False
        self._update_offerable(agent_id, agent)

    def set_agent_reachable(self, agent_id: str, reachable: bool) -> None:
        """Offer the agent's resources only while the master can reach it (a launch
        that could not connect to it stops its offers until it is heard from again);
        independent of activation."""
        agent = self._agents[agent_id]
        agent.reachable = reachable
        self._update_offerable(agent_id, agent)

    # ------------------------------------------------------------------ resources

    def add_used(self, framework_id: str, agent_id: str, role: str, resources: Resources) -> None:
        """Count resources already in use on an agent (e.g. tasks found after failover)."""
        agent = self._agents[agent_id]
        self._count_used(agent, framework_id, role, resources)
        self._update_offerable(agent_id, agent)

    def _count_used(
        self, agent: _Agent, framework_id: str, role: str, resources: Resources
    ) -> None:
        client = self._client(framework_id, role)
        if framework_id not in self._frameworks:
            self._frameworks[framework_id] = _Framework()
        self._ensure_client(framework_id, role)
        agent.used[client] = agent.used.get(client, Resources.EMPTY) + resources
        self._set_free(agent, agent.free - resources)
        self._roles.allocated(role, resources)
        self._by_role[role].allocated(client, resources)

    def recover_resources(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        *,
        refuse_seconds: float | None,
        now: float,
    ) -> None:
        """Return resources to the agent's free pool; with `refuse_seconds > 0`, also
        keep them from this framework and role on this agent until `now + refuse_seconds`.

        Only what the framework holds there is returned, so a repeated recovery is harmless.
        """
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        client = self._client(framework_id, role)
        if agent.capped and client in agent.capped:
            # The offer was cut down by quota, and would be cut the same way again: a
            # decline refuses the agent, not just the part offered.
            agent.capped.discard(client)
            refused = agent.total
        else:
            refused = resources
        held = agent.used.get(client)
        if held is not None:
            # Usually the whole offer comes back; only clamp to what is held otherwise.
            whole = resources is held or resources == held
            self._release(agent_id, agent, client, held if whole else held - (held - resources))
        fw = self._frameworks.get(framework_id)
        if fw is None or not fw.known or refuse_seconds is None:
            return
        if not refuse_seconds > 0:  # also rejects NaN
            return
        self._add_filter(agent_id, agent, fw, client, refused, now + refuse_seconds)

    # ------------------------------------------------------------------ the cycle

    def allocate(self, now: float) -> list[Allocation]:
        """One allocation cycle; what is returned counts as allocated until recovered."""
        self._expire_filters(now)
        if not self._wanting or not self._dirty:
            return []
        if self._quota_relaxed:
            self._quota_relaxed = False
            self._dirty |= self._starved & self._offerable
            self._starved.clear()
        order = sorted(self._dirty)  # sorted first, so the seed alone decides the shuffle
        self._rng.shuffle(order)
        offers: list[Allocation] = []
        n_wanting = len(self._wanting)
        # Usually every client wants offers; then the scan need not ask.
        everyone_wants = n_wanting == sum(map(len, self._by_role.values()))
        if self._quotas:
            return self._allocate_with_quota(order, n_wanting, everyone_wants)
        for agent_id in order:
            agent = self._agents[agent_id]
            self._dirty.discard(agent_id)
            if agent.filters.blocks_all(agent.free, n_wanting):
                continue  # back in _dirty when something here changes
            if agent.free.has_reservations():
                self._allocate_reserved(agent_id, agent, n_wanting, everyone_wants, offers)
                continue
            client = self._pick(agent, n_wanting, everyone_wants)
            if client is not None:
                offers.append(self._offer(agent_id, agent, client))
        return offers

    def _allocate_reserved(
        self,
        agent_id: str,
        agent: _Agent,
        n_wanting: int,
        everyone_wants: bool,
        offers: list[Allocation],
    ) -> None:
        """Offer an agent with reserved resources free, a part per role that may use one
        (see `_reservation_aware`), until nothing is left that anyone may take."""
        whole = agent.free
        offer_for = self._reservation_aware(None, None)
        for _ in range(_MAX_PARTS):
            picked = self._pick_within(agent, n_wanting, everyone_wants, offer_for, whole)
            if picked is None:
                return
            offers.append(self._offer(agent_id, agent, picked[0], picked[1]))
            if agent_id not in self._offerable:
                return
        self._dirty.add(agent_id)  # parts left over: next cycle

    def _reservation_aware(self, offer_for: OfferFor | None, cycle: QuotaCycle | None) -> OfferFor:
        """`offer_for` (None: the whole) applied to the unreserved part of a free pool, plus
        what of it is reserved for the role or an ancestor; reservations count as consumed
        by their role already, so quota only asks that one reserved for an ancestor keeps
        the roles between within their limits."""

        def offer(role: str, free: Resources) -> Resources | None:
            plain = free.unreserved()
            cut = offer_for(role, plain) if offer_for is not None and plain else plain
            reserved = free.reserved_for(ancestors(role))
            if reserved and cycle is not None:
                reserved = cycle.reservations_within_limits(role, reserved)
            resources = reserved if cut is None else cut + reserved
            return resources if self._allocatable(resources) else None

        return offer

    def _allocatable(self, resources: Resources) -> bool:
        """Whether `resources` hold at least one of the minimum allocatable amounts, reserved
        or not."""
        if resources.has_reservations():
            resources = resources.flatten()
        return any(resources.contains(least) for least in self._min_allocatable)

    def _pick(self, agent: _Agent, n_wanting: int, everyone_wants: bool) -> Client | None:
        """The first client in hierarchical DRF order that may get this agent's free pool."""
        filters, free = agent.filters, agent.free
        if (
            len(filters) >= agent.scan_willing
            and filters.n_willing(free, n_wanting) <= agent.scan_willing
        ):
            return self._pick_from(filters.willing(free, self._wanting_version))
        return next(iter(self._candidates(agent, everyone_wants)), None)

    def _candidates(self, agent: _Agent, everyone_wants: bool) -> Iterable[Client]:
        """The clients that want offers and are not filtered from the agent's free pool,
        in DRF order."""
        filters = agent.filters
        candidates: Iterable[Client] = self._in_drf_order()
        if not everyone_wants:
            candidates = filter(self._wanting.__contains__, candidates)
        if len(filters):
            blocked = filters.blocked(agent.free)
            candidates = filterfalse(blocked.__contains__, candidates)
        return candidates

    # ------------------------------------------------------------------ the cycle, quota

    def _allocate_with_quota(
        self, order: list[str], n_wanting: int, everyone_wants: bool
    ) -> list[Allocation]:
        """The cycle when some role has quota: per agent, first the roles below their
        guarantees, then fair share, each offer cut to the limits and the headroom."""
        cycle = QuotaCycle(
            self._quotas, self._roles, self._total, self._min_allocatable, self._reserved_free
        )
        offers: list[Allocation] = []
        # Stage 1 once, then fair share until the agent is used up: what one role's limit
        # leaves over goes to the next role in the same cycle. (Bound methods made once:
        # `is` below compares them, and a cycle allocates as little as it can.)
        fair = cycle.fair_offer
        fair_only = (fair,) * _MAX_PARTS
        both = (cycle.guarantee_offer, *fair_only)
        for agent_id in order:
            agent = self._agents[agent_id]
            self._dirty.discard(agent_id)
            whole = agent.free
            if agent.filters.blocks_all(whole, n_wanting):
                continue
            reserved = whole.has_reservations()
            for offer_for in both if cycle.needy else fair_only:
                pick_for = self._reservation_aware(offer_for, cycle) if reserved else offer_for
                picked = self._pick_within(agent, n_wanting, everyone_wants, pick_for, whole)
                if picked is None:
                    if offer_for is fair:
                        break
                    continue
                client, resources = picked
                offer = self._offer(agent_id, agent, client, resources)
                last = offers[-1] if offers else None
                if (
                    last is not None
                    and last.agent_id == agent_id
                    and last.framework_id == client[0]
                    and last.role == client[1]
                ):
                    # Two parts to one client (its guarantee, then fair share): one offer.
                    offer = Allocation(client[0], agent_id, client[1], last.resources + resources)
                    offers[-1] = offer
                else:
                    offers.append(offer)
                cycle.taken(client[1], resources)
                if agent_id not in self._offerable:
                    break
            else:
                if agent_id in self._offerable:
                    self._dirty.add(agent_id)  # parts left over: next cycle
                continue
            if agent_id in self._offerable:
                self._starved.add(agent_id)  # quota kept some of it from everyone
        return offers

    def _pick_within(
        self,
        agent: _Agent,
        n_wanting: int,
        everyone_wants: bool,
        offer_for: OfferFor,
        whole: Resources,
    ) -> tuple[Client, Resources] | None:
        """The first client in DRF order for whose role `offer_for` allows an offer.

        `whole` is the agent's free pool when the cycle came to it: clients are first
        sifted by their filters against it (cached per agent); for what is left of it
        after a part was offered, a client's filter is then checked against the rest
        alone (filters covering the whole pool cover any part of it).
        """
        filters, free = agent.filters, agent.free
        if (
            len(filters) < agent.scan_willing
            or filters.n_willing(whole, n_wanting) > agent.scan_willing
        ):
            return self._pick_by_role(agent, everyone_wants, offer_for, whole)
        candidates: Iterable[Client] = self._sorted_drf(
            filters.willing(whole, self._wanting_version)
        )
        if free is not whole and len(filters):
            candidates = filterfalse(partial(filters.covers, resources=free), candidates)
        # A role's clients come one after another in DRF order: ask once per role.
        last_role: str | None = None
        resources: Resources | None = None
        for client in candidates:
            role = client[1]
            if role is not last_role and role != last_role:
                last_role, resources = role, offer_for(role, free)
            if resources is not None:
                return client, resources
        return None

    def _pick_by_role(
        self,
        agent: _Agent,
        everyone_wants: bool,
        offer_for: OfferFor,
        whole: Resources,
    ) -> tuple[Client, Resources] | None:
        """`_pick_within` by scanning the DRF order a role at a time: the first client of
        each role that may be offered here (found at C level), then `offer_for` once for
        its role; a role quota keeps from this agent costs one call, not one step per
        client of it."""
        filters, free = agent.filters, agent.free
        filtered = len(filters) > 0
        blocked = filters.blocked(whole) if filtered else None
        covers = partial(filters.covers, resources=free) if filtered and free is not whole else None
        wanting = None if everyone_wants else self._wanting.__contains__
        by_role = self._by_role
        for role in self._roles.in_order():
            candidates: Iterable[Client] = by_role[role].in_order()
            if wanting is not None:
                candidates = filter(wanting, candidates)
            if blocked is not None:
                candidates = filterfalse(blocked.__contains__, candidates)
            if covers is not None:
                candidates = filterfalse(covers, candidates)
            client = next(iter(candidates), None)
            if client is None:
                continue
            resources = offer_for(role, free)
            if resources is not None:
                return client, resources
        return None

    def _sorted_drf(self, clients: set[Client]) -> list[Client]:
        by_role, roles = self._by_role, self._roles
        return sorted(clients, key=lambda c: (roles.key(c[1]), by_role[c[1]].key(c)))

    def _in_drf_order(self) -> Iterable[Client]:
        """Every client, roles by weighted dominant share, then frameworks within each."""
        by_role = self._by_role
        if len(by_role) == 1:
            return next(iter(by_role.values())).in_order()
        return chain.from_iterable(by_role[role].in_order() for role in self._roles.in_order())

    def _pick_from(self, clients: set[Client]) -> Client | None:
        """The client of `clients` that comes first in hierarchical DRF order."""
        if not clients:
            return None
        by_role = self._by_role
        if len(by_role) == 1:
            return min(clients, key=next(iter(by_role.values())).keys().__getitem__)
        roles = self._roles
        return min(clients, key=lambda c: (roles.key(c[1]), by_role[c[1]].key(c)))

    def _offer(
        self, agent_id: str, agent: _Agent, client: Client, part: Resources | None = None
    ) -> Allocation:
        """Offer the agent's free pool, or `part` of it (cut down by quota)."""
        framework_id, role = client = self._client(*client)
        resources = agent.free
        if part is None or part is resources:
            self._set_free(agent, Resources.EMPTY)
            self._offerable.discard(agent_id)
        else:
            resources = part
            self._set_free(agent, agent.free - part)
            if agent.capped is None:
                agent.capped = set()
            agent.capped.add(client)  # the shared client tuple: nothing new to collect
            if not self._allocatable(agent.free):
                self._offerable.discard(agent_id)
        held = agent.used.get(client)
        agent.used[client] = resources if held is None else held + resources
        self._roles.allocated(role, resources)
        self._by_role[role].allocated(client, resources)
        return Allocation(framework_id, agent_id, role, resources)

    # ------------------------------------------------------------------ queries

    def allocated(self, framework_id: str) -> Resources:
        """Everything the framework holds, over all its roles and agents."""
        out = Resources.EMPTY
        for role, sorter in self._by_role.items():
            if (framework_id, role) in sorter:
                out = out + sorter.allocation((framework_id, role))
        return out

    def agent_free(self, agent_id: str) -> Resources:
        return self._agents[agent_id].free

    def agent_total(self, agent_id: str) -> Resources:
        return self._agents[agent_id].total

    def agent_used(self, agent_id: str) -> dict[tuple[str, str], Resources]:
        """What each (framework_id, role) holds on the agent."""
        return dict(self._agents[agent_id].used)

    def cluster_total(self) -> Resources:
        return self._total

    def allocated_total(self) -> Resources:
        """Everything offered or in use, over all roles and agents."""
        return self._roles.allocated_total()

    def framework_share(self, framework_id: str) -> float:
        """The framework's largest dominant share over its roles."""
        shares = [
            sorter.share((framework_id, role))
            for role, sorter in self._by_role.items()
            if (framework_id, role) in sorter
        ]
        return max(shares, default=0.0)

    def role_share(self, role: str) -> float:
        """The dominant share (unweighted) of the role and every role below it."""
        return self._roles.share(role)

    def has_work(self) -> bool:
        """Whether `allocate` could make an offer now (filters due to expire aside)."""
        return bool(self._wanting and self._dirty)

    def next_filter_expiry(self) -> float | None:
        """The earliest time a filter may expire, to schedule a cycle; None if no filters."""
        return self._expiries[0][0] if self._expiries else None

    # ------------------------------------------------------------------ bookkeeping

    def _client(self, framework_id: str, role: str) -> Client:
        client = (framework_id, role)
        return self._clients.setdefault(client, client)

    def _framework(self, framework_id: str) -> _Framework:
        fw = self._frameworks.get(framework_id)
        if fw is None or not fw.known:
            raise KeyError(f"unknown framework {framework_id!r}; add_framework first")
        return fw

    def _set_roles(self, framework_id: str, fw: _Framework, roles: Sequence[str]) -> None:
        old, fw.roles = fw.roles, list(dict.fromkeys(roles)) or ["*"]
        for role in fw.roles:
            self._ensure_client(framework_id, role)
        for role in old:
            if role not in fw.roles:
                self._drop_client_if_idle(framework_id, role)
        self._refresh_wanting(framework_id, fw)

    def _ensure_client(self, framework_id: str, role: str) -> None:
        sorter = self._by_role.get(role)
        if sorter is None:
            self._roles.add(role, self._weights.get(role, 1.0))
            sorter = self._by_role[role] = DRFSorter()
            sorter.add_total(self._total)
        client = self._client(framework_id, role)
        if client not in sorter:
            sorter.add(client)

    def _drop_client_if_idle(self, framework_id: str, role: str) -> None:
        """Stop tracking (framework, role) once it is neither subscribed nor holding anything."""
        sorter = self._by_role.get(role)
        client = (framework_id, role)
        if sorter is None or client not in sorter:
            return
        fw = self._frameworks.get(framework_id)
        if (fw is not None and role in fw.roles) or sorter.allocation(client):
            return
        sorter.remove(client)
        self._clients.pop((framework_id, role), None)
        if not len(sorter):
            del self._by_role[role]
            self._roles.remove(role)

    def _refresh_wanting(self, framework_id: str, fw: _Framework) -> None:
        """Recompute which of the framework's (framework, role) clients want offers."""
        new: set[Client] = set()
        if fw.known and fw.active:
            new = {(framework_id, r) for r in fw.roles if r not in fw.suppressed}
        added, removed = new - fw.wanting, fw.wanting - new
        if not added and not removed:
            return
        fw.wanting = new
        self._wanting_version += 1
        self._wanting |= added
        self._wanting -= removed
        if fw.n_filters:
            for _, agent in self._filtered_by(fw):
                for client in added:
                    agent.filters.toggle(client, True)
                for client in removed:
                    agent.filters.toggle(client, False)
        if added:  # agents skipped as fully filtered may now have a taker
            self._dirty |= self._offerable

    def _release(self, agent_id: str, agent: _Agent, client: Client, freed: Resources) -> None:
        if freed.is_empty():
            return
        framework_id, role = client
        held = agent.used[client]
        left = Resources.EMPTY if freed is held else held - freed
        if left:
            agent.used[client] = left
        else:
            del agent.used[client]
        self._set_free(agent, agent.free + freed)
        if self._quotas:
            self._quota_relaxed = True  # room under a limit, or more spare than headroom
        self._roles.unallocated(role, freed)
        self._by_role[role].unallocated(client, freed)
        self._update_offerable(agent_id, agent)
        if not left:
            if agent.capped:
                agent.capped.discard(client)
            self._drop_client_if_idle(framework_id, role)

    def _update_offerable(self, agent_id: str, agent: _Agent) -> None:
        """Call whenever an agent's free pool or state changes."""
        if agent.active and agent.reachable and self._allocatable(agent.free):
            self._offerable.add(agent_id)
            self._dirty.add(agent_id)
        else:
            self._offerable.discard(agent_id)
            self._dirty.discard(agent_id)

    def _set_free(self, agent: _Agent, free: Resources) -> None:
        """Every change of an agent's free pool goes through here."""
        if free.has_reservations() or agent.free.has_reservations():
            self._track_reserved(agent.free, free)
        agent.free = free

    def _track_reserved(self, old: Resources, new: Resources) -> None:
        """Keep `_reserved_free` current when a free pool goes from `old` to `new`."""
        totals = self._reserved_free
        for role in old.reserved_roles() | new.reserved_roles():
            now = totals.get(role, Resources.EMPTY) - old.reserved(role) + new.reserved(role)
            if now:
                totals[role] = now
            else:
                totals.pop(role, None)

    def _change_total(self, resources: Resources, sign: int) -> None:
        if sign > 0:
            self._total = self._total + resources
            self._roles.add_total(resources)
            for sorter in self._by_role.values():
                sorter.add_total(resources)
        else:
            self._total = self._total - resources
            self._roles.remove_total(resources)
            for sorter in self._by_role.values():
                sorter.remove_total(resources)

    # ------------------------------------------------------------------ filters

    def _add_filter(
        self,
        agent_id: str,
        agent: _Agent,
        fw: _Framework,
        client: Client,
        resources: Resources,
        expiry: float,
    ) -> None:
        spec = self._last_spec
        # Declines tend to repeat the same resources and deadline: share one spec.
        if spec is None or spec.expiry != expiry or spec.resources != resources:
            spec = self._last_spec = FilterSpec(resources, expiry)
        if agent.filters.add(client, spec):
            fw.n_filters += 1
        fw.filter_roles.add(client[1])
        if fw.filter_agents is not None:
            fw.filter_agents.add(agent_id)
            if len(fw.filter_agents) > max(FILTER_AGENTS_MAX, len(self._agents) // 8):
                fw.filter_agents = None
        if expiry < agent.next_expiry:
            agent.next_expiry = expiry
            heapq.heappush(self._expiries, (expiry, agent_id))

    def _remove_filter(self, agent: _Agent, client: Client) -> None:
        if agent.filters.remove(client):
            fw = self._frameworks.get(client[0])
            if fw is not None:
                fw.n_filters -= 1

    def _clear_filters(self, framework_id: str, fw: _Framework) -> None:
        if not fw.n_filters:
            fw.filter_agents = set()
            return
        for agent_id, agent in self._filtered_by(fw):
            for role in fw.filter_roles:
                if agent.filters.remove((framework_id, role)):
                    fw.n_filters -= 1
                    if agent_id in self._offerable:
                        self._dirty.add(agent_id)
        fw.filter_roles.clear()
        fw.filter_agents = set()

    def _filtered_by(self, fw: _Framework) -> Iterable[tuple[str, _Agent]]:
        """The agents that may hold a filter of ``fw``: those it listed, or every one."""
        if fw.filter_agents is None:
            return self._agents.items()
        agents = self._agents
        return [(a, agents[a]) for a in fw.filter_agents if a in agents]

    def _expire_filters(self, now: float) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= now:
            _, agent_id = heapq.heappop(heap)
            agent = self._agents.get(agent_id)
            if agent is None or agent.next_expiry > now:
                continue  # stale entry: the agent is gone or was already handled
            for framework_id, _role in agent.filters.expire(now):
                fw = self._frameworks.get(framework_id)
                if fw is not None:
                    fw.n_filters -= 1
                if agent_id in self._offerable:
                    self._dirty.add(agent_id)
            agent.next_expiry = agent.filters.next_expiry()
            if agent.next_expiry < math.inf:
                heapq.heappush(heap, (agent.next_expiry, agent_id))
