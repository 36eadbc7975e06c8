"""The SDK's state store on a real ZooKeeper: the same behaviour as on a directory, kept
across clients and a dropped connection."""

from __future__ import annotations

from mesospy.scheduler import open_store
from mesospy.scheduler.state import ZooKeeperStore
from mesospy.testing.zookeeper import ZooKeeperSandbox
from tests.unit.test_scheduler_state import exercise


def test_zookeeper_store(zookeeper: ZooKeeperSandbox) -> None:
    store = open_store(f"{zookeeper.url}/framework")
    assert isinstance(store, ZooKeeperStore)
    try:
        exercise(store)
        store.put("jobs/b", {"kept": True})
        # A write after a dropped connection is retried, not lost.
        zookeeper.server.drop_connection(store.client)
        store.put("jobs/c", {"after": "reconnect"})
    finally:
        store.close()
    # Another client (another host, after a failover) sees the same state.
    with open_store(f"{zookeeper.url}/framework") as again:
        assert again.children("jobs") == ["a", "b", "c"]
        assert again.get("jobs/c") == {"after": "reconnect"}
        assert again.get("runs/b/r1") == "text"
    # The data is plain JSON in znodes under the URL's path.
    client = zookeeper.client()
    data, _ = client.get(f"{zookeeper.path}/framework/jobs/b")
    assert data == b'{"kept": true}'
