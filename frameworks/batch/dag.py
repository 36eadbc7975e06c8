"""Job dependencies: a job may name parent jobs; together they must form a DAG. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["children_of", "find_cycle"]


def find_cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in the graph ``job -> its parents`` as ``[a, b, ..., a]``, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(job: str) -> list[str] | None:
        if job in on_path:
            return [*path[path.index(job) :], job]
        if job in done:
            return None
        path.append(job)
        on_path.add(job)
        for parent in parents.get(job, ()):
            if cycle := visit(parent):
                return cycle
        path.pop()
        on_path.discard(job)
        done.add(job)
        return None

    for job in sorted(parents):
        if cycle := visit(job):
            return cycle
    return None


def children_of(parents: Mapping[str, Sequence[str]], job: str) -> list[str]:
    """The jobs that name ``job`` as a parent, sorted."""
    return sorted(child for child, names in parents.items() if job in names)
