"""A started ``LocalCluster`` for a test, tried again if it loses a race for a port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mesospy.cluster import ClusterError, LocalCluster

__all__ = ["running_cluster"]

ATTEMPTS = 3


@contextmanager
def running_cluster(
    work_dir: Callable[[], Path],
    per_attempt: Callable[[int], dict[str, Any]] | None = None,
    prepare: Callable[[LocalCluster], object] | None = None,
    **options: Any,
) -> Iterator[LocalCluster]:
    """A started LocalCluster, stopped after. If starting it (or ``prepare``, run on the
    started cluster: e.g. a framework with extra flags) fails with ClusterError, as when a
    free port was taken by another process first, it is tried again in a fresh
    ``work_dir()`` with ``per_attempt(attempt)``'s options, up to three times."""
    for attempt in range(1, ATTEMPTS + 1):
        extra = per_attempt(attempt) if per_attempt is not None else {}
        cluster = LocalCluster(work_dir=work_dir(), **options, **extra)
        try:
            cluster.start()
            if prepare is not None:
                prepare(cluster)
        except ClusterError:
            cluster.stop()
            if attempt == ATTEMPTS:
                raise
            continue
        try:
            yield cluster
        finally:
            cluster.stop()
        return
