"""Fixtures for high-availability tests: a real ZooKeeper, shared by the session.

Each test gets its own path (``/t-<uuid>``) on the shared server, so tests cannot see each
other's masters or registry. A missing ZooKeeper makes these tests fail, never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesospy.testing.zookeeper import ZooKeeperSandbox, ZooKeeperServer


@pytest.fixture(scope="session")
def zookeeper_server() -> Iterator[ZooKeeperServer]:
    """One real ZooKeeper (short ticks: sessions can be as short as 1 s)."""
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server


@pytest.fixture
def zookeeper(zookeeper_server: ZooKeeperServer) -> Iterator[ZooKeeperSandbox]:
    """This test's path on the shared server, and clients that are closed afterwards."""
    sandbox = ZooKeeperSandbox(zookeeper_server)
    try:
        yield sandbox
    finally:
        sandbox.close()
