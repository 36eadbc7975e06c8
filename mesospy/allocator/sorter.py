"""Sorters decide who is offered next: DRF (fair) or seeded random.

A sorter tracks clients (roles, or frameworks within a role), what each is allocated, and
the cluster total, and orders the clients. Only scalar resources count towards shares.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

from mesospy.resources import Resources, scalar_milli

__all__ = ["DRFSorter", "RandomSorter", "Sorter"]

# A sorter client: a role name, or a (framework_id, role) pair. Clients must be ordered
# among themselves (ties of share are broken by the client).
K = TypeVar("K", str, tuple[str, str])


class Sorter(Protocol[K]):
    """What the allocator needs from a fairness policy."""

    def add(self, client: K, weight: float = 1.0) -> None: ...
    def remove(self, client: K) -> None: ...
    def __contains__(self, client: object) -> bool: ...
    def __len__(self) -> int: ...
    def update_weight(self, client: K, weight: float) -> None: ...
    def allocated(self, client: K, resources: Resources) -> None: ...
    def unallocated(self, client: K, resources: Resources) -> None: ...
    def allocation(self, client: K) -> Resources: ...
    def add_total(self, resources: Resources) -> None: ...
    def remove_total(self, resources: Resources) -> None: ...
    def share(self, client: K) -> float: ...
    def sort(self) -> list[K]: ...
    def __iter__(self) -> Iterator[K]: ...


class _Accounts(Generic[K]):
    """Allocations, weights and the cluster total shared by both sorters."""

    def __init__(self) -> None:
        self._alloc: dict[K, Resources] = {}
        self._weight: dict[K, float] = {}
        self._total: dict[str, int] = {}  # thousandths per scalar name

    def __contains__(self, client: object) -> bool:
        return client in self._alloc

    def __len__(self) -> int:
        return len(self._alloc)

    def allocation(self, client: K) -> Resources:
        """What `client` holds now."""
        return self._alloc[client]

    def share(self, client: K) -> float:
        """Dominant share: the largest fraction of any scalar of the cluster it holds."""
        total = self._total
        best = 0.0
        for name, value in scalar_milli(self._alloc[client]).items():
            whole = total.get(name, 0)
            if whole > 0 and value / whole > best:
                best = value / whole
        return best

    def _change_total(self, resources: Resources, sign: int) -> None:
        for name, value in scalar_milli(resources).items():
            self._total[name] = max(0, self._total.get(name, 0) + sign * value)


class DRFSorter(_Accounts[K]):
    """Weighted dominant resource fairness: lowest share / weight first, ties by client.

    The order is kept sorted and updated per change (O(log n) search plus a memmove), with
    the clients alone in a parallel list (`in_order`), so the allocator can scan it with
    C-level iteration instead of a Python loop. A change of the cluster total changes every
    share; the order is then rebuilt lazily, once, on the next read.
    """

    def __init__(self) -> None:
        super().__init__()
        self._key: dict[K, tuple[float, Any]] = {}
        self._order: list[tuple[float, Any]] = []
        self._names: list[K] = []  # the clients of _order, in the same order
        self._stale = False

    def add(self, client: K, weight: float = 1.0) -> None:
        """Track `client` with nothing allocated; re-adding is an error."""
        if client in self._alloc:
            raise ValueError(f"sorter client {client!r} already exists")
        self._alloc[client] = Resources.EMPTY
        self._weight[client] = weight
        self._key[client] = (0.0, client)
        if not self._stale:
            self._insert((0.0, client), client)

    def remove(self, client: K) -> None:
        """Forget `client` and its allocation."""
        key = self._key.pop(client)
        del self._alloc[client], self._weight[client]
        if not self._stale:
            self._delete(key)

    def update_weight(self, client: K, weight: float) -> None:
        self._weight[client] = weight
        self._reposition(client)

    def allocated(self, client: K, resources: Resources) -> None:
        self._alloc[client] = self._alloc[client] + resources
        self._reposition(client)

    def unallocated(self, client: K, resources: Resources) -> None:
        self._alloc[client] = self._alloc[client] - resources
        self._reposition(client)

    def add_total(self, resources: Resources) -> None:
        self._change_total(resources, 1)
        self._stale = True

    def remove_total(self, resources: Resources) -> None:
        self._change_total(resources, -1)
        self._stale = True

    def weighted_share(self, client: K) -> float:
        """The sort key: dominant share divided by weight."""
        return self.share(client) / self._weight[client]

    def key(self, client: K) -> tuple[float, Any]:
        """The client's place in the order: lower sorts first."""
        self._refresh()
        return self._key[client]

    def keys(self) -> dict[K, tuple[float, Any]]:
        """Every client's key (see `key`); read-only, valid until the next change."""
        self._refresh()
        return self._key

    def in_order(self) -> list[K]:
        """The clients, most deserving first; read-only, valid until the next change."""
        self._refresh()
        return self._names

    def _insert(self, key: tuple[float, Any], client: K) -> None:
        at = bisect_left(self._order, key)
        self._order.insert(at, key)
        self._names.insert(at, client)

    def _delete(self, key: tuple[float, Any]) -> None:
        at = bisect_left(self._order, key)
        del self._order[at], self._names[at]

    def _reposition(self, client: K) -> None:
        new = (self.weighted_share(client), client)
        old = self._key[client]
        self._key[client] = new
        if self._stale or new == old:
            return
        self._delete(old)
        self._insert(new, client)

    def _refresh(self) -> None:
        if self._stale:
            self._key = {c: (self.weighted_share(c), c) for c in self._alloc}
            self._order = sorted(self._key.values())
            self._names = [client for _, client in self._order]
            self._stale = False

    def sort(self) -> list[K]:
        """Clients, most deserving first."""
        return list(self.in_order())

    def __iter__(self) -> Iterator[K]:
        # No copy: the caller must stop iterating before changing an allocation.
        return iter(self.in_order())


class RandomSorter(_Accounts[K]):
    """A seeded random order, weighted: a client of weight 2 tends to come first twice as
    often as one of weight 1 (Efraimidis-Spirakis keys). Shares are tracked for reporting.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self._rng = random.Random(seed)

    def add(self, client: K, weight: float = 1.0) -> None:
        if client in self._alloc:
            raise ValueError(f"sorter client {client!r} already exists")
        self._alloc[client] = Resources.EMPTY
        self._weight[client] = weight

    def remove(self, client: K) -> None:
        del self._alloc[client], self._weight[client]

    def update_weight(self, client: K, weight: float) -> None:
        self._weight[client] = weight

    def allocated(self, client: K, resources: Resources) -> None:
        self._alloc[client] = self._alloc[client] + resources

    def unallocated(self, client: K, resources: Resources) -> None:
        self._alloc[client] = self._alloc[client] - resources

    def add_total(self, resources: Resources) -> None:
        self._change_total(resources, 1)

    def remove_total(self, resources: Resources) -> None:
        self._change_total(resources, -1)

    def sort(self) -> list[K]:
        """A fresh weighted random order, sorted by name first so the seed alone decides."""
        rng = self._rng
        keyed = [(rng.random() ** (1.0 / self._weight[c]), c) for c in sorted(self._alloc)]
        keyed.sort(reverse=True)
        return [client for _, client in keyed]

    def __iter__(self) -> Iterator[K]:
        return iter(self.sort())
