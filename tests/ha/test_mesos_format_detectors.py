"""What Mesos-format master detectors read keeps working with mesospy's masters and its
bundled frameworks keeping their state in the same ZooKeeper: the election path holds the
masters' ``json.info_<seq>`` znodes (Mesos's JSON) and nothing a detector takes for a
master. Two readings, both written here from how such detectors work: pymesos's current
one (children starting with ``json.info_``, the lowest sequence leads, ``address.ip`` and
``address.port``) and an older one that takes the lowest child of all."""

from __future__ import annotations

import json
from pathlib import Path

from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperSandbox


def _filtered_reading(children: list[str]) -> str:
    return min(c for c in children if c.startswith("json.info_"))


def _unfiltered_reading(children: list[str]) -> str:
    return min(children)


def test_detectors_find_the_leader_beside_framework_state(
    zookeeper: ZooKeeperSandbox, tmp_path: Path
) -> None:
    with LocalCluster(agents=1, masters=2, zk=zookeeper.url, work_dir=tmp_path) as cluster:
        # The frameworks keep their state in ZooKeeper beside the masters' path.
        for name in ("batch", "service"):
            cluster.add_framework(name, state=f"{zookeeper.url}-{name}")
        leader = cluster.leader()
        client = zookeeper.client()
        children = client.get_children(zookeeper.path)
        assert [c for c in children if not c.startswith("json.info_")] == ["registry"]
        for read in (_filtered_reading, _unfiltered_reading):
            data, _ = client.get(f"{zookeeper.path}/{read(children)}")
            doc = json.loads(data)
            assert (doc["address"]["ip"], doc["address"]["port"]) == ("127.0.0.1", leader.port)
            assert doc["hostname"] and doc["id"] and doc["pid"].startswith("master@")
        client.delete(f"{zookeeper.path}-batch", recursive=True)
        client.delete(f"{zookeeper.path}-service", recursive=True)
