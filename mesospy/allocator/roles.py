"""Roles as a tree of paths (``eng``, ``eng/dev``): hierarchical weighted DRF over roles.

Siblings are ordered by the weighted dominant share of everything allocated in their
subtree; the order of the roles that hold clients is then read depth first: all of the
first sibling's subtree before the second sibling. A role that has clients and children
(``eng`` beside ``eng/dev``) takes part among its children as a virtual child holding what
its own clients have (Mesos's "." leaf), with weight 1.

Each node with children has a `DRFSorter` of them. The allocation of a child entry is its
subtree's, so a child's allocation counts towards its ancestors: what quota limits need.
Without any ``/`` in use the tree is one sorter, as flat as before, and as fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mesospy.allocator.sorter import DRFSorter
from mesospy.resources import Resources

__all__ = ["RoleTree", "ancestors", "in_subtree", "parent_of"]


def parent_of(role: str) -> str:
    """``eng/dev`` -> ``eng``; a top-level role -> "" (the root)."""
    return role.rpartition("/")[0]


def in_subtree(role: str, top: str) -> bool:
    """Whether ``role`` is ``top`` or below it (``eng/dev`` is in ``eng``'s subtree)."""
    return role == top or role.startswith(top + "/")


def ancestors(role: str) -> list[str]:
    """The role and its ancestors, from the top: ``a/b/c`` -> [a, a/b, a/b/c]."""
    parts = role.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class RoleTree:
    """The roles that have clients, with their ancestors, as a tree of DRF sorters."""

    def __init__(self) -> None:
        self._root: DRFSorter[str] = DRFSorter()
        # Node path -> the sorter of its children ("" is the root). A role with clients
        # and children also sits in its own sorter, as its virtual leaf.
        self._sorters: dict[str, DRFSorter[str]] = {"": self._root}
        self._roles: set[str] = set()  # roles with clients
        self._weights: dict[str, float] = {}
        self._total = Resources.EMPTY
        # Per role with clients: the (sorter, entry) pairs its allocation is counted in.
        self._chains: dict[str, tuple[tuple[DRFSorter[str], str], ...]] = {}

    def __contains__(self, role: object) -> bool:
        return role in self._roles

    def __len__(self) -> int:
        return len(self._roles)

    # ------------------------------------------------------------------ structure

    def add(self, role: str, weight: float = 1.0) -> None:
        """Track `role` (it has a client now), with nothing allocated."""
        if role in self._roles:
            raise ValueError(f"role {role!r} is already in the tree")
        self._weights.setdefault(role, weight)
        self._roles.add(role)
        path = ancestors(role)
        for node in path:
            parent = self._sorters[parent_of(node)]
            if node not in parent:
                parent.add(node, self._weights.get(node, 1.0))
            if node != role and node not in self._sorters:
                self._make_inner(node)
        if role in self._sorters:  # it already has children: it joins them as a leaf
            self._sorters[role].add(role)
        self._rechain()

    def remove(self, role: str) -> None:
        """Stop tracking `role`; it must hold nothing."""
        self._roles.remove(role)
        own = self._sorters.get(role)
        if own is not None:
            own.remove(role)
            if not len(own):
                del self._sorters[role]
        node = role
        while node:
            if node in self._sorters or (node != role and node in self._roles):
                break  # it still has children, or clients of its own
            parent_path = parent_of(node)
            parent = self._sorters[parent_path]
            parent.remove(node)
            if not parent_path:
                break
            if not len(parent):  # the parent was there for this child alone
                del self._sorters[parent_path]
                node = parent_path
                continue
            if len(parent) == 1 and parent_path in parent:
                # Only the parent's own leaf is left: the parent is a leaf again.
                del self._sorters[parent_path]
            break
        self._rechain()

    def _make_inner(self, node: str) -> None:
        """`node` gets children: a sorter of its own, holding its leaf if it has clients."""
        sorter: DRFSorter[str] = DRFSorter()
        sorter.add_total(self._total)
        self._sorters[node] = sorter
        if node in self._roles:
            sorter.add(node)
            parent = self._sorters[parent_of(node)]
            sorter.allocated(node, parent.allocation(node))

    def _rechain(self) -> None:
        chains = {}
        for role in self._roles:
            chain = [(self._sorters[parent_of(node)], node) for node in ancestors(role)]
            if role in self._sorters:
                chain.append((self._sorters[role], role))
            chains[role] = tuple(chain)
        self._chains = chains

    def update_weight(self, role: str, weight: float) -> None:
        """Set the weight of a role path (applied among its siblings)."""
        self._weights[role] = weight
        parent = self._sorters.get(parent_of(role))
        if parent is not None and role in parent:
            parent.update_weight(role, weight)

    # ------------------------------------------------------------------ accounting

    def allocated(self, role: str, resources: Resources) -> None:
        for sorter, entry in self._chains[role]:
            sorter.allocated(entry, resources)

    def unallocated(self, role: str, resources: Resources) -> None:
        for sorter, entry in self._chains[role]:
            sorter.unallocated(entry, resources)

    def add_total(self, resources: Resources) -> None:
        self._total = self._total + resources
        for sorter in self._sorters.values():
            sorter.add_total(resources)

    def remove_total(self, resources: Resources) -> None:
        self._total = self._total - resources
        for sorter in self._sorters.values():
            sorter.remove_total(resources)

    def allocation(self, role: str) -> Resources:
        """What the role's subtree holds (the role's own clients and all below it)."""
        parent = self._sorters.get(parent_of(role))
        if parent is None or role not in parent:
            return Resources.EMPTY
        return parent.allocation(role)

    def allocated_total(self) -> Resources:
        """Everything allocated, over all roles."""
        out = Resources.EMPTY
        for role in self._root:
            out = out + self._root.allocation(role)
        return out

    def share(self, role: str) -> float:
        """The dominant share of the role's subtree."""
        parent = self._sorters.get(parent_of(role))
        if parent is None or role not in parent:
            return 0.0
        return parent.share(role)

    # ------------------------------------------------------------------ order

    def in_order(self) -> Sequence[str] | Iterator[str]:
        """The roles with clients, most deserving first; read before changing anything."""
        if len(self._sorters) == 1:
            return self._root.in_order()
        return self._walk(self._root)

    def _walk(self, sorter: DRFSorter[str]) -> Iterator[str]:
        sorters = self._sorters
        for entry in sorter.in_order():
            inner = sorters.get(entry)
            if inner is None or inner is sorter:
                yield entry
            else:
                yield from self._walk(inner)

    def key(self, role: str) -> tuple[Any, ...]:
        """Compare two roles' keys to know which comes first in `in_order`."""
        return tuple(sorter.key(entry) for sorter, entry in self._chains[role])

    def sort(self) -> list[str]:
        return list(self.in_order())
