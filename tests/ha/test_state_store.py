"""The SDK's state store on a real ZooKeeper: the same behaviour as on a directory, kept
across clients and a dropped connection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mesospy.scheduler import open_store
from mesospy.scheduler.state import ElectionPathConflict, ZooKeeperStore
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


def test_state_under_an_election_path_is_refused(zookeeper: ZooKeeperSandbox) -> None:
    """Masters elect under ``<path>``: a store there would add a child beside their
    ``json.info_`` znodes, which Mesos-format detectors take for a master. Refused, and
    nothing is created."""
    client = zookeeper.client()
    client.create(f"{zookeeper.path}/json.info_0000000001", b"{}", makepath=True)
    for location in (f"{zookeeper.url}/batch", f"{zookeeper.url}/frameworks/batch"):
        with pytest.raises(ElectionPathConflict) as refused:
            open_store(location)
        assert f"use a sibling path such as zk://{zookeeper.hosts}{zookeeper.path}-" in str(
            refused.value
        )
    assert client.get_children(zookeeper.path) == ["json.info_0000000001"]
    # A sibling of the election path is fine.
    with open_store(f"{zookeeper.url}-batch") as store:
        store.put("jobs/a", {"ok": True})
        assert store.get("jobs/a") == {"ok": True}
    client.delete(f"{zookeeper.path}-batch", recursive=True)


def test_state_under_the_masters_path_is_refused_before_any_master_runs(
    zookeeper: ZooKeeperSandbox,
) -> None:
    """Known from --master alone, even before a master has created its znode."""
    with pytest.raises(ElectionPathConflict, match="under the path where masters"):
        open_store(f"{zookeeper.url}/batch", master=zookeeper.url)
    assert zookeeper.client().exists(zookeeper.path) is None


@pytest.mark.parametrize("framework", ["batch", "service"])
def test_serve_refuses_state_under_the_election_path(
    zookeeper: ZooKeeperSandbox, framework: str
) -> None:
    """The CLI prints one line naming a sibling path and exits non-zero."""
    done = subprocess.run(
        [sys.executable, "-m", "mesospy", framework, "serve", "--master", zookeeper.url,
         "--state", f"{zookeeper.url}/{framework}", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"such as zk://{zookeeper.hosts}{zookeeper.path}-{framework}" in lines[0]
