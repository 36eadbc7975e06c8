"""Fixtures for high-availability tests: a real ZooKeeper, shared by the session.

Each test gets its own path (``/t-<uuid>``) on the shared server, so tests cannot see each
other's masters or registry. A missing ZooKeeper makes these tests fail, never skip.
"""

from mesospy.testing.fixtures import zookeeper, zookeeper_server

__all__ = ["zookeeper", "zookeeper_server"]
