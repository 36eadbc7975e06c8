"""A started ``LocalCluster`` for a test, tried again if it loses a race for a port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mesospy.cluster import ClusterError, LocalCluster

__all__ = ["fast_master_flags", "running_cluster"]

ATTEMPTS = 3


def fast_master_flags(
    max_agent_ping_timeouts: int = 3, framework_heartbeat_interval: float = 2
) -> list[str]:
    """Master flags for tests: quick allocation and short heartbeats, so that a lost agent
    or framework is noticed within a test's patience."""
    return [
        "--allocation-interval",
        "0.2",
        "--agent-ping-timeout",
        "0.5",
        "--max-agent-ping-timeouts",
        str(max_agent_ping_timeouts),
        "--framework-heartbeat-interval",
        f"{framework_heartbeat_interval:g}",
    ]


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
