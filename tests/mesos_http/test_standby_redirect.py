"""A standby master answers the HTTP APIs with 307 Temporary Redirect to the leader's HTTP
API (found through the MasterInfo the leader wrote into ZooKeeper)."""

from __future__ import annotations

import time
from pathlib import Path

from mesospy.cluster import free_port
from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperSandbox

from .mesos_http_client import Answer, MesosHttp, http_master_flags


def _until_redirected(api: MesosHttp, call: dict[str, object], timeout: float = 30) -> Answer:
    """The standby's answer once it knows the leader (before that it answers 503)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = api.operator(call)
        except ConnectionError:
            answer = None  # not listening yet
        if answer is not None and answer.status == 307:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"no redirect in time: {answer}")
        time.sleep(0.2)


def test_standby_redirects_to_the_leader(zookeeper: ZooKeeperSandbox, tmp_path: Path) -> None:
    leader_port, standby_port = free_port(), free_port()
    with LocalCluster(
        agents=1,
        masters=1,
        zk=zookeeper.url,
        work_dir=tmp_path,
        agent_resources="cpus:1;mem:256",
        master_flags=http_master_flags(leader_port),
    ) as cluster:
        cluster.master_flags = http_master_flags(standby_port)
        cluster.add_master()
        standby = MesosHttp(standby_port)

        answer = _until_redirected(standby, {"type": "GET_STATE"})
        assert answer.headers["location"] == f"http://127.0.0.1:{leader_port}/api/v1"
        assert "not the leader" in answer.text

        subscribe = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}}
        scheduler = standby.post("/api/v1/scheduler", subscribe)
        assert scheduler.status == 307, scheduler.text
        assert scheduler.headers["location"] == (f"http://127.0.0.1:{leader_port}/api/v1/scheduler")
        redirect = standby.request("GET", "/master/redirect")
        assert redirect.status == 307
        assert redirect.headers["location"] == f"http://127.0.0.1:{leader_port}"

        # The standby still answers for itself where Mesos's masters do.
        assert standby.operator({"type": "GET_HEALTH"}).status == 200
        # Following the redirect reaches the leader, which answers.
        leader = MesosHttp(leader_port).operator({"type": "GET_STATE"})
        assert leader.status == 200
        assert len(leader.json()["get_state"]["get_agents"]["agents"]) == 1
        assert not any(
            f["framework_info"]["name"] == "x"
            for f in leader.json()["get_state"]["get_frameworks"]["frameworks"]
        )
