"""Decline filters of one agent, with the counts that let the allocator skip it in O(1).

A framework that declines an offer with `refuse_seconds` is not offered a subset of those
resources from that agent (for the role of the offer) until the filter expires.

The allocator asks two questions per agent and cycle: "is every client that wants offers
filtered here?" and "does this client's filter block these free resources?". Both depend
on the agent's free resources. The common case (a framework declines the agent's whole
free pool, which comes back unchanged) must be cheap even with thousands of filters per
agent, so coverage is cached for one free value and kept as its complement: the few
filters that do NOT cover it.

`blocked` gives the allocator a container of the clients filtered from the free pool, to
skip them in its scan of the DRF order with C-level iteration. When nearly every client is
filtered here, that scan would pass over almost all of them; `willing` answers the other
way round: the clients that want offers and are not blocked, computed with C-level set
operations and kept up to date while it stays small.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass

from mesospy.resources import Resources

__all__ = ["WILLING_CACHE_MAX", "AgentFilters", "Client", "FilterSpec", "FilterSpecs"]

Client = tuple[str, str]  # (framework_id, role)

# Keep an agent's willing set between cycles only while it is this small (memory bound).
WILLING_CACHE_MAX = 128


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """What is refused and until when; shared by many filters to save memory."""

    resources: Resources
    expiry: float


class FilterSpecs:
    """The specs in use, by number, with how many filters use each.

    Agents' filters hold spec numbers rather than specs: a dict whose keys and values are
    all plain values (ints, and the allocator's shared tuples of strings) is one the garbage
    collector stops tracking. With millions of filters, full collections walking dicts of
    spec objects cost as much as the allocation cycle itself.
    """

    __slots__ = ("_next", "_number", "_refs", "_specs")

    def __init__(self) -> None:
        self._specs: dict[int, FilterSpec] = {}
        self._number: dict[FilterSpec, int] = {}
        self._refs: dict[int, int] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, number: int) -> FilterSpec:
        return self._specs[number]

    def acquire(self, spec: FilterSpec) -> int:
        """The number of `spec` (equal specs share one), counted as used once more."""
        number = self._number.get(spec)
        if number is None:
            number = self._number[spec] = self._next
            self._next += 1
            self._specs[number] = spec
            self._refs[number] = 0
        self._refs[number] += 1
        return number

    def release(self, number: int) -> None:
        """One use fewer; a spec no filter uses is forgotten."""
        left = self._refs[number] - 1
        if left:
            self._refs[number] = left
            return
        del self._refs[number], self._number[self._specs.pop(number)]


class AgentFilters:
    """The decline filters on one agent, keyed by client.

    `wanting` is the allocator's live set of clients that want offers; the allocator calls
    `toggle` whenever a client with a filter here enters or leaves it. `specs` is the
    allocator's registry of filter specs, shared by every agent.
    """

    __slots__ = (
        "_blocked",
        "_by_client",
        "_cached_free",
        "_live",
        "_live_uncovered",
        "_specs",
        "_uncovered",
        "_wanting",
        "_willing",
        "_willing_version",
    )

    def __init__(self, wanting: set[Client], specs: FilterSpecs) -> None:
        self._wanting = wanting
        self._specs = specs
        self._by_client: dict[Client, int] = {}  # client -> spec number
        self._live = 0  # filters whose client wants offers
        self._cached_free: Resources | None = None
        self._uncovered: set[Client] = set()  # filters that do not cover _cached_free
        self._live_uncovered = 0
        # The clients whose filter covers _cached_free, while some filter does not (else
        # _by_client itself answers); None until asked for.
        self._blocked: set[Client] | None = None
        # Clients in `wanting` not blocked from _cached_free, valid for _willing_version.
        self._willing: set[Client] | None = None
        self._willing_version = -1

    def __len__(self) -> int:
        return len(self._by_client)

    def clients(self) -> list[Client]:
        return list(self._by_client)

    def add(self, client: Client, spec: FilterSpec) -> bool:
        """Install (or replace) the filter of `client`; whether it is a new one."""
        replaced = self.remove(client)
        self._by_client[client] = self._specs.acquire(spec)
        live = client in self._wanting
        self._live += live
        if self._cached_free is not None and not spec.resources.contains(self._cached_free):
            self._uncovered.add(client)
            self._live_uncovered += live
        else:
            if self._willing is not None:
                self._willing.discard(client)
            if self._blocked is not None:
                self._blocked.add(client)
        return not replaced

    def remove(self, client: Client) -> bool:
        """Drop the filter of `client`; whether there was one."""
        number = self._by_client.pop(client, None)
        if number is None:
            return False
        self._specs.release(number)
        live = client in self._wanting
        self._live -= live
        if self._blocked is not None:
            self._blocked.discard(client)
        if client in self._uncovered:
            self._uncovered.discard(client)
            self._live_uncovered -= live
        elif live and self._willing is not None:
            self._willing.add(client)
        return True

    def toggle(self, client: Client, wanting: bool) -> None:
        """`client` started (or stopped) wanting offers; the set already says so."""
        if client not in self._by_client:
            return
        step = 1 if wanting else -1
        self._live += step
        if client in self._uncovered:
            self._live_uncovered += step

    def expire(self, now: float) -> list[Client]:
        """Drop filters whose deadline has passed (`now >= expiry`); return their clients."""
        specs = self._specs
        gone = [c for c, number in self._by_client.items() if now >= specs[number].expiry]
        for client in gone:
            self.remove(client)
        return gone

    def next_expiry(self) -> float:
        specs = self._specs
        return min((specs[n].expiry for n in set(self._by_client.values())), default=math.inf)

    def _sync(self, free: Resources) -> None:
        cached = self._cached_free
        if cached is free:
            return
        if cached is not None and cached == free:
            self._cached_free = free  # the next check is by identity
            return
        self._cached_free = free
        self._willing = None
        self._blocked = None
        specs = self._specs
        uncovering = {  # usually one or a few specs serve all the filters here
            n for n in set(self._by_client.values()) if not specs[n].resources.contains(free)
        }
        self._uncovered = (
            {c for c, n in self._by_client.items() if n in uncovering} if uncovering else set()
        )
        wanting = self._wanting
        self._live_uncovered = sum(1 for c in self._uncovered if c in wanting)

    def blocks_all(self, free: Resources, n_wanting: int) -> bool:
        """Whether every client that wants offers is filtered from `free` here."""
        if self._live < n_wanting:  # cheap exit: not even enough filters
            return False
        self._sync(free)
        return self._live - self._live_uncovered >= n_wanting

    def n_willing(self, free: Resources, n_wanting: int) -> int:
        """How many of the `n_wanting` clients that want offers are not blocked from `free`."""
        self._sync(free)
        return n_wanting - (self._live - self._live_uncovered)

    def blocked(self, free: Resources) -> Container[Client]:
        """The clients (wanting offers or not) whose filter blocks `free` here; read-only,
        valid until the next change."""
        self._sync(free)
        if not self._uncovered:
            return self._by_client
        if self._blocked is None:
            self._blocked = self._by_client.keys() - self._uncovered
        return self._blocked

    def covers(self, client: Client, resources: Resources) -> bool:
        """Whether the filter of `client` covers `resources`, without touching the cache
        kept for one free value (for a part of the free pool left over in a cycle)."""
        number = self._by_client.get(client)
        return number is not None and self._specs[number].resources.contains(resources)

    def blocks(self, client: Client, free: Resources) -> bool:
        """Whether `client` must not be offered `free` here."""
        if client not in self._by_client:
            return False
        self._sync(free)
        return client not in self._uncovered

    def willing(self, free: Resources, version: int) -> set[Client]:
        """The clients that want offers and are not blocked from `free` here.

        `version` must change whenever the `wanting` set does; the result is then rebuilt.
        The caller must not change the set it gets.
        """
        self._sync(free)
        if self._willing is not None and self._willing_version == version:
            return self._willing
        wanting = self._wanting
        out = wanting.difference(self._by_client)
        out.update(c for c in self._uncovered if c in wanting)
        if len(out) <= WILLING_CACHE_MAX:
            self._willing, self._willing_version = out, version
        else:
            self._willing = None
        return out
