"""The service framework's Prometheus metrics, scraped from a real ``service serve``
endpoint while a real HTTP app is deployed, served through its VIP and scaled away."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from frameworks.service.client import ServiceClient, find_service
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cluster import free_port
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.testing.prometheus import Samples, scrape

from .support import wait_until

FAST_MASTER = ["--allocation-interval", "0.2", "--agent-ping-timeout", "0.5"]


def app_spec(vip_port: int, instances: int) -> dict[str, Any]:
    return {
        "id": "web",
        "cmd": "exec python3 -m http.server $PORT0 --bind 127.0.0.1",
        "instances": instances,
        "cpus": 0.1,
        "mem": 64,
        "ports": ["http"],
        "healthCheck": {"protocol": "HTTP", "path": "/", "intervalSeconds": 0.5,
                        "gracePeriodSeconds": 20, "timeoutSeconds": 5},
        "killGracePeriodSeconds": 1,
        "vip": {"host": "127.0.0.1", "port": vip_port},
    }  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("service-metrics"),
        agents=1,
        master_flags=FAST_MASTER,
        agent_resources="cpus:2;mem:1024;ports:[30500-30599]",
        frameworks=["service"],
        metrics=True,
    ) as c:
        yield c


def _get(vip_port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", vip_port, timeout=10)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status
    finally:
        connection.close()


def _settled(app: spb.App, instances: int) -> bool:
    return not app.deployment.id and app.healthy == instances == len(app.instance_list)


def test_deployments_instances_and_vip_connections(cluster: LocalCluster) -> None:
    url = cluster.framework_daemons["service"].metrics_url
    assert url is not None
    client = ServiceClient(find_service(cluster.master_address))
    vip_port = free_port()
    before = scrape(url)
    assert before.get("mesospy_service_apps") == 0

    client.deploy(json.dumps(app_spec(vip_port, 2)))
    wait_until("2 healthy instances", lambda: _settled(client.app("web"), 2))
    samples = _eventually(
        url,
        lambda s: s.get("mesospy_service_deployments_ended_total", outcome="SUCCEEDED") == 1,
    )
    assert samples.get("mesospy_service_apps") == 1
    assert samples.get("mesospy_service_deployments_started_total", kind="deploy") == 1
    assert samples.get("mesospy_service_deployments_active") == 0
    instances = "mesospy_service_instances"
    assert samples.get(instances, app="web", state="running", health="healthy") == 2
    assert samples.get(instances, app="web", state="running", health="unhealthy") == 0

    assert [_get(vip_port) for _ in range(5)] == [200] * 5
    connections = "mesospy_service_vip_connections_total"
    served = _eventually(url, lambda s: s.get(connections, app="web", outcome="served") == 5)
    assert served.get(connections, app="web", outcome="failed") == 0
    assert served.get("mesospy_service_vip_backend_errors_total", app="web", default=-1) == 0
    assert served.get("mesospy_service_vip_connections_active", app="web") == 0

    # Scaled to nothing, the VIP still listens but has no backend: the connection fails.
    client.call("Scale", spb.ScaleRequest(app_id="web", instances=0))
    wait_until("no instances", lambda: _settled(client.app("web"), 0))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _get(vip_port)
    after = _eventually(url, lambda s: s.get(connections, app="web", outcome="failed") == 1)
    assert after.get("mesospy_service_deployments_started_total", kind="scale") == 1
    assert after.get("mesospy_service_deployments_ended_total", outcome="SUCCEEDED") == 2
    assert after.get(connections, app="web", outcome="served") == 5
    assert not any(key[0] == instances for key in after.values)


def _eventually(url: str, holds: Any, timeout: float = 30.0) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if holds(samples) or time.monotonic() > deadline:
            assert holds(samples), "the metrics never showed what the test waits for"
            return samples
        time.sleep(0.1)
