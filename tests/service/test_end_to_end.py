"""The service framework on a real local cluster, driven through the CLI, while a client
loop requests the VIP all along: deploy 3 HTTP instances, roll out a new version (healthy
instances never below 3), roll out a broken one (rolled back automatically), kill an
instance by hand (replaced), kill an agent (instances moved). The loop sees no failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from click.testing import CliRunner

from frameworks.service.client import ServiceClient, ServiceError, find_service
from frameworks.service.store import Store
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.main import cli
from mesospy.client import OperatorClient
from mesospy.cluster import free_port
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster

from .support import wait_until

FAST_MASTER = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "0.5",
    "--max-agent-ping-timeouts",
    "3",
    "--framework-heartbeat-interval",
    "2",
]
AGENTS = [f"cpus:2;mem:2048;ports:[{p}-{p + 99}]" for p in (30100, 30200, 30300)]


def app_spec(vip_port: int, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "web",
        "cmd": "exec python3 -m http.server $PORT0 --bind 127.0.0.1",
        "instances": 3,
        "cpus": 0.1,
        "mem": 64,
        "ports": ["http"],
        "healthCheck": {
            "protocol": "HTTP",
            "path": "/",
            "intervalSeconds": 0.5,
            "gracePeriodSeconds": 20,
            # Patient enough that a check slowed by a loaded machine does not count: the
            # rolling update below is judged on healthy instances.
            "timeoutSeconds": 5,
            "maxConsecutiveFailures": 4,
        },
        "upgradeStrategy": {"maxSurge": 1, "maxUnavailable": 0, "progressDeadlineSeconds": 8},
        "unreachableStrategy": {"inactiveAfterSeconds": 1, "expungeAfterSeconds": 60},
        "backoff": {"seconds": 0.5, "factor": 1.5, "maxDelaySeconds": 3},
        "readinessCheck": {"path": "/", "intervalSeconds": 0.2},
        "killGracePeriodSeconds": 1,
        "vip": {"host": "127.0.0.1", "port": vip_port, "balance": "least-connections"},
    }
    spec.update(changes)
    return spec


class ClientLoop(threading.Thread):
    """Requests the VIP in a loop; counts answers and failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=10) as answer:
                    answer.read()
                self.ok += 1
            except OSError as exc:
                self.failures.append(repr(exc))
            time.sleep(0.01)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("service"),
        agents=3,
        master_flags=FAST_MASTER,
        agent_resources=list(AGENTS),
        frameworks=["service"],
    ) as c:
        yield c


def mesospy(cluster: LocalCluster, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"MESOSPY_MASTER": cluster.master_address})
    assert result.exit_code == 0, result.output
    return result.output


def live(app: spb.App) -> list[spb.Instance]:
    """Instances but those given up on (unreachable too long, shown as inactive)."""
    return [i for i in app.instance_list if i.state != "inactive"]


def settled(app: spb.App, version: str) -> bool:
    return (
        app.version == version
        and not app.deployment.id
        and app.healthy == 3
        and len(live(app)) == 3
        and all(i.version == version and i.health == "healthy" for i in live(app))
    )


def test_an_http_app_behind_a_vip_survives_updates_rollback_and_failures(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    vip_port = free_port()
    spec_file = tmp_path / "web.yaml"
    spec_file.write_text(yaml.safe_dump(app_spec(vip_port)))
    out = mesospy(cluster, "app", "deploy", str(spec_file), "--wait", "--timeout", "60")
    assert "SUCCEEDED" in out
    client = ServiceClient(find_service(cluster.master_address))
    assert settled(client.app("web"), "v1")
    endpoints = json.loads(mesospy(cluster, "app", "endpoints", "web", "--json"))
    assert endpoints["vip"] == f"127.0.0.1:{vip_port}" and len(endpoints["endpoints"]) == 3

    loop = ClientLoop(f"http://127.0.0.1:{vip_port}/")
    loop.start()
    wait_until("requests through the VIP", lambda: loop.ok > 10)

    # A rolling update: never fewer than 3 healthy instances (maxUnavailable 0).
    spec_file.write_text(yaml.safe_dump(app_spec(vip_port, env={"RELEASE": "2"})))
    mesospy(cluster, "app", "deploy", str(spec_file))
    lowest = 3
    deadline = time.monotonic() + 60
    while not settled(app := client.app("web"), "v2"):
        assert time.monotonic() < deadline, app
        lowest = min(lowest, app.healthy)
        time.sleep(0.05)
    assert lowest == 3

    # A broken version (its health checks never pass) is rolled back to v2 at the deadline.
    broken = app_spec(vip_port, env={"RELEASE": "3"}, cmd="exec sleep 600")
    spec_file.write_text(yaml.safe_dump(broken))
    out = CliRunner().invoke(
        cli,
        ["app", "deploy", str(spec_file), "--wait", "--timeout", "60"],
        env={"MESOSPY_MASTER": cluster.master_address},
    )
    assert out.exit_code == 1 and "ROLLED_BACK" in out.output, out.output
    wait_until("the rollback to v2", lambda: settled(client.app("web"), "v2"))
    versions = json.loads(mesospy(cluster, "app", "versions", "web", "--json"))["versions"]
    assert [(v["version"], v.get("failed", False)) for v in versions] == [
        ("v1", False),
        ("v2", False),
        ("v3", True),
    ]

    # An instance killed by hand is replaced.
    victim = client.app("web").instance_list[0]
    os.kill(_pid_listening_on(victim.ports[0]), signal.SIGKILL)
    wait_until(
        "a replacement",
        lambda: (
            settled(a := client.app("web"), "v2")
            and victim.task_id not in {i.task_id for i in a.instance_list}
        ),
    )

    # An agent dies with its instances: they move to the other agents.
    agent_id = client.app("web").instance_list[0].agent_id
    daemon = cluster.agent_daemon(agent_id)
    assert daemon.process is not None
    tasks = psutil.Process(daemon.process.pid).children(recursive=True)
    daemon.signal(signal.SIGKILL)
    for process in tasks:
        process.kill()
    wait_until(
        "the instances to move",
        lambda: (
            settled(a := client.app("web"), "v2") and all(i.agent_id != agent_id for i in live(a))
        ),
    )

    loop.stopping.set()
    loop.join()
    assert loop.failures == [] and loop.ok > 100, (loop.ok, loop.failures[:5])
    client.close()


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def _pid_listening_on(port: int) -> int:
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise AssertionError(f"nothing listens on {port}")


def test_a_restarted_framework_adopts_its_instances_and_a_host_proxy_keeps_serving(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    vip_port = free_port()
    spec = app_spec(vip_port, id="api", instances=2)
    (tmp_path / "api.json").write_text(json.dumps(spec))
    mesospy(cluster, "app", "deploy", str(tmp_path / "api.json"), "--wait", "--timeout", "60")
    old_address = find_service(cluster.master_address)
    with ServiceClient(old_address) as client:
        before = sorted(i.task_id for i in client.app("api").instance_list)
    assert len(before) == 2
    # A proxy of its own on another loopback address, as on an agent host: it keeps the
    # endpoints it knows while the framework is away.
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frameworks.service.vip",
            "--master",
            cluster.master_address,
            "--bind-host",
            "127.0.0.2",
            "--interval",
            "0.2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until("the host proxy to listen", lambda: _accepts("127.0.0.2", vip_port))
        loop = ClientLoop(f"http://127.0.0.2:{vip_port}/")
        loop.start()
        wait_until("requests through the host proxy", lambda: loop.ok > 10)

        cluster.framework_daemons["service"].stop()
        # As if it had died before writing down one of its instances: that one is adopted
        # from the master's answers, ports and all.
        assert cluster.work_dir is not None
        with contextlib.closing(Store.open(str(cluster.work_dir / "service"))) as store:
            store.delete_instance(before[0])
        cluster.add_framework("service")

        def adopted() -> bool:
            try:
                address = find_service(cluster.master_address)
            except ServiceError:
                return False
            if address == old_address:
                return False
            with ServiceClient(address) as client:
                app = client.app("api")
            return app.healthy == 2 and sorted(i.task_id for i in app.instance_list) == before

        wait_until("the new framework process to adopt the instances", adopted)
        seen = loop.ok
        wait_until("more requests", lambda: loop.ok > seen + 10)
        loop.stopping.set()
        loop.join()
    finally:
        proxy.terminate()
        proxy.wait()
    assert loop.failures == [], loop.failures[:5]
    with OperatorClient(cluster.master_address) as operator:
        ids = {t.task_id for t in operator.get_tasks().tasks if t.task_id.startswith("api.")}
    assert sorted(ids) == before  # nothing relaunched
    mesospy(cluster, "app", "delete", "api")


def run_cli(cluster: LocalCluster, *args: str) -> tuple[int, str]:
    env = {"MESOSPY_MASTER": cluster.master_address}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def _logs_once_running(cluster: LocalCluster, app_id: str) -> str:
    """`app logs`, or "" while the app has no running instance (the rollback of a cancelled
    deployment may have started a new one); any other error fails."""
    code, out = run_cli(cluster, "app", "logs", app_id)
    if code != 0:
        assert "has no instances running" in out, out
        return ""
    return out


def test_cli_refuses_bad_specs_and_steers_deployments(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"id": "demo", "instances": -2, "cpus": 0, "vip": "x"}))
    code, out = run_cli(cluster, "app", "deploy", str(bad))
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    for problem in ("cmd: is required", "instances: must be >= 0", "cpus: must be > 0", "vip."):
        assert problem in out
    code, out = run_cli(cluster, "app", "show", "demo")
    assert code == 1 and "no app 'demo'" in out
    code, out = run_cli(cluster, "app", "list", "--service", "127.0.0.1:1")
    assert code == 1 and "unreachable" in out and len(out.strip().splitlines()) == 1

    # v1 runs; v2 never gets healthy, so its deployment can be paused, resumed, cancelled.
    spec = app_spec(free_port(), id="demo", instances=1)
    # Tasks get a defined environment, not the agent's: http.server's log line reaches
    # stdout unbuffered only when the app asks for it.
    spec["env"] = {"PYTHONUNBUFFERED": "1"}
    del spec["vip"]
    good = tmp_path / "demo.yaml"
    good.write_text(yaml.safe_dump(spec))
    mesospy(cluster, "app", "deploy", str(good), "--wait", "--timeout", "60")
    out = mesospy(cluster, "app", "deploy", str(good), "--wait")
    assert "unchanged (version v1)" in out
    spec["cmd"] = "exec sleep 600"
    spec["upgradeStrategy"]["progressDeadlineSeconds"] = 300
    good.write_text(yaml.safe_dump(spec))
    mesospy(cluster, "app", "deploy", str(good))
    assert "PAUSED" in mesospy(cluster, "app", "pause", "demo")
    assert "RUNNING" in mesospy(cluster, "app", "resume", "demo")
    assert "rollback to v1" in mesospy(cluster, "app", "cancel", "demo")
    with ServiceClient(find_service(cluster.master_address)) as client:
        wait_until(
            "the cancelled deployment to be undone",
            lambda: (
                (a := client.app("demo")).version == "v1"
                and not a.deployment.id
                and [i.version for i in a.instance_list] == ["v1"]
            ),
        )
    shown = json.loads(mesospy(cluster, "app", "show", "demo", "--json"))
    assert shown["version"] == "v1" and shown["spec"]["cmd"].startswith("exec python3")
    listed = json.loads(mesospy(cluster, "app", "list", "--json"))
    assert "demo" in [a["id"] for a in listed]
    history = json.loads(mesospy(cluster, "app", "deployments", "demo", "--all", "--json"))
    statuses = [d["status"] for d in history["deployments"]]
    assert statuses[-2:] == ["CANCELLED", "SUCCEEDED"], statuses
    wait_until(
        "its log line",
        lambda: "Serving HTTP on 127.0.0.1" in _logs_once_running(cluster, "demo"),
    )
    assert "deleting" in mesospy(cluster, "app", "delete", "demo")
    with ServiceClient(find_service(cluster.master_address)) as client:
        wait_until("the app to be gone", lambda: "demo" not in [a.id for a in client.apps()])


def test_constraints_hold_and_what_cannot_be_placed_is_reported(cluster: LocalCluster) -> None:
    # Every local agent's hostname is 127.0.0.1: UNIQUE hostname allows one instance.
    spec = {
        "id": "uniq",
        "cmd": "exec sleep 600",
        "instances": 2,
        "cpus": 0.1,
        "mem": 32,
        "constraints": [["hostname", "UNIQUE"]],
    }
    with ServiceClient(find_service(cluster.master_address)) as client:
        client.deploy(json.dumps(spec))
        wait_until(
            "one instance and a note about the other",
            lambda: (
                len((a := client.app("uniq")).instance_list) == 1
                and any("1 instance(s) waiting for an offer" in n for n in a.notes)
            ),
        )
        time.sleep(1.0)  # more offer cycles: still one
        assert len(client.app("uniq").instance_list) == 1
        client.call("Delete", spb.AppRequest(app_id="uniq"))
        wait_until("the app to be gone", lambda: "uniq" not in [a.id for a in client.apps()])
