"""Pytest fixtures shared by test folders: import them into a ``conftest.py``::

from mesospy.testing.fixtures import zookeeper, zookeeper_server  # noqa: F401
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
    """This test's path (``/t-<uuid>``) on the shared server, and clients that are closed
    afterwards: tests cannot see each other's masters or registry."""
    sandbox = ZooKeeperSandbox(zookeeper_server)
    try:
        yield sandbox
    finally:
        sandbox.close()
