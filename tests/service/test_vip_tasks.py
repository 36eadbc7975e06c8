"""`mesospy service serve --vip-tasks` on a real cluster: the framework runs the VIP proxy
as a task of its own on every agent host (one per hostname), keeps it running, and
requests through the VIP reach the app."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from frameworks.service.client import ServiceClient, ServiceError, find_service
from frameworks.service.scheduler import VIP_PROXY_APP, ServiceScheduler
from frameworks.service.server import vip_proxy_command
from frameworks.service.store import Store
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.main import cli
from mesospy.cluster import free_port
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster

from .support import wait_until

FAST_MASTER = ["--allocation-interval", "0.2", "--framework-heartbeat-interval", "2"]
AGENTS = [f"cpus:2;mem:2048;ports:[{p}-{p + 99}]" for p in (30600, 30700)]
PATIENCE = 90.0  # seconds: proxy tasks start on every agent host


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("vip-tasks"),
        prepare=lambda c: c.add_framework("service", extra_args=["--vip-tasks"]),
        agents=2,
        master_flags=FAST_MASTER,
        agent_resources=list(AGENTS),
    ) as c:
        yield c


def running(cluster: LocalCluster, app_id: str) -> list[spb.Instance]:
    try:
        with ServiceClient(find_service(cluster.master_address)) as client:
            app = client.app(app_id)
    except ServiceError:
        return []
    return [i for i in app.instance_list if i.state == "running" and not i.killing]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def proxy_processes(port: int) -> list[psutil.Process]:
    """The processes listening on ``port`` that are a VIP proxy."""
    found = []
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            try:
                process = psutil.Process(conn.pid)
                if "frameworks.service.vip" in process.cmdline():
                    found.append(process)
            except psutil.Error:
                continue
    return found


def test_the_vip_proxy_runs_as_a_task_on_every_agent_host(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    # Both agents advertise 127.0.0.1: one host, so one proxy (hostname UNIQUE).
    wait_until(
        "the VIP proxy task", lambda: len(running(cluster, VIP_PROXY_APP)) == 1, timeout=PATIENCE
    )
    vip_port = free_port()
    spec = {
        "id": "hello",
        "cmd": "exec python3 -m http.server $PORT0 --bind 127.0.0.1",
        "instances": 2,
        "cpus": 0.1,
        "mem": 64,
        "ports": ["http"],
        "readinessCheck": {"path": "/", "intervalSeconds": 0.2},
        "vip": {"host": "127.0.0.1", "port": vip_port},
    }
    (tmp_path / "hello.json").write_text(json.dumps(spec))
    result = CliRunner().invoke(
        cli,
        ["app", "deploy", str(tmp_path / "hello.json"), "--wait", "--timeout", "90"],
        env={"MESOSPY_MASTER": cluster.master_address},
    )
    assert result.exit_code == 0, result.output
    url = f"http://127.0.0.1:{vip_port}/"
    wait_until("an answer through the VIP", lambda: answers(url), timeout=PATIENCE)
    # What listens on the VIP is the proxy task (the framework runs no proxy itself).
    proxies = proxy_processes(vip_port)
    assert len(proxies) == 1
    (proxy,) = running(cluster, VIP_PROXY_APP)
    assert len(running(cluster, VIP_PROXY_APP)) == 1  # still one, with two agents

    # The framework keeps it alive like any app instance: killed, it is replaced.
    proxies[0].kill()
    wait_until(
        "a new proxy task",
        lambda: [i.task_id for i in running(cluster, VIP_PROXY_APP)] not in ([], [proxy.task_id]),
        timeout=PATIENCE,
    )
    wait_until("an answer through the new proxy", lambda: answers(url), timeout=PATIENCE)
    assert [p.pid for p in proxy_processes(vip_port)] != [proxies[0].pid]


def test_the_proxy_app_follows_the_agent_hosts(tmp_path: Path) -> None:
    """Pure bookkeeping: one instance per agent hostname, deleted when turned off."""
    scheduler = ServiceScheduler(Store.open(str(tmp_path)), "127.0.0.1:1", clock=lambda: 1.0)
    try:
        scheduler.vip_proxy_command = vip_proxy_command("127.0.0.1:5050")
        scheduler.tick()
        assert VIP_PROXY_APP not in scheduler.apps  # no agent listed yet
        scheduler.agent_hosts = {"a", "b"}
        scheduler.tick()
        app = scheduler.apps[VIP_PROXY_APP]
        assert app.spec.instances == 2 and "-m frameworks.service.vip" in app.spec.cmd
        assert [(c.field, c.operator) for c in app.spec.constraints] == [("hostname", "UNIQUE")]
        scheduler.agent_hosts = {"a", "b", "c"}
        scheduler.tick()
        assert scheduler.apps[VIP_PROXY_APP].spec.instances == 3
        scheduler.vip_proxy_command = None
        scheduler.tick()
        assert scheduler.apps.get(VIP_PROXY_APP) is None or scheduler.apps[VIP_PROXY_APP].deleting
    finally:
        scheduler.close()
