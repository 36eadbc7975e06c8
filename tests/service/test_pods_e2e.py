"""A pod app (a web server and a sidecar per instance, each instance one task group) on a
real cluster, driven through the CLI: it gets healthy, rolls to a new version and back
(every instance a fresh task group), and an instance whose sidecar fails loses its web
container with it and is replaced."""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from frameworks.service.client import ServiceClient, ServiceError, find_service
from frameworks.service.store import Store
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.main import cli
from mesospy.client import OperatorClient
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.v1 import common_pb2 as pb

from .support import wait_until

AGENTS = [f"cpus:2;mem:2048;ports:[{p}-{p + 99}]" for p in (31700, 31800)]


def pod_spec(stop_dir: Path, greeting: str) -> dict[str, Any]:
    quick = {"intervalSeconds": 0.5, "gracePeriodSeconds": 20, "timeoutSeconds": 5}
    return {
        "id": "shop",
        "instances": 2,
        "ports": ["http"],
        "env": {"GREETING": greeting, "STOP_DIR": str(stop_dir)},
        "containers": [
            {
                "name": "web",
                "cmd": "exec python3 -u -m http.server $PORT0 --bind 127.0.0.1",
                "resources": {"cpus": 0.1, "mem": 64},
                "healthCheck": {"protocol": "HTTP", "path": "/", **quick},
            },
            {
                # Says its greeting into the web root; exits 3 once told to (a file).
                "name": "helper",
                "cmd": 'cd ../$(ls .. | grep "\\.web$")'
                ' && echo "$GREETING $CONTAINER_NAME" > greeting.txt'
                ' && while [ ! -e "$STOP_DIR/$MESOS_TASK_ID" ]; do sleep 0.1; done; exit 3',
                "resources": {"cpus": 0.1, "mem": 16},
                "healthCheck": {"protocol": "COMMAND", "command": "test -d /", **quick},
                "lifecycle": {"sidecar": True},
            },
        ],
        "upgradeStrategy": {"maxSurge": 1, "maxUnavailable": 0},
        "backoff": {"seconds": 0.2, "factor": 1.0},
        "killGracePeriodSeconds": 1,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("pods"),
        agents=2,
        master_flags=["--allocation-interval", "0.2"],
        agent_resources=list(AGENTS),
        frameworks=["service"],
    ) as c:
        yield c


def cli_run(cluster: LocalCluster, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"MESOSPY_MASTER": cluster.master_address})
    return result.exit_code, result.output


def settled(app: spb.App, version: str) -> bool:
    return (
        app.version == version
        and not app.deployment.id
        and app.healthy == 2
        and len(app.instance_list) == 2
        and all(
            i.version == version
            and i.health == "healthy"
            and [(c.name, c.state, c.health) for c in i.containers]
            == [("web", "running", "healthy"), ("helper", "running", "healthy")]
            for i in app.instance_list
        )
    )


def greeting(i: spb.Instance) -> str:
    url = f"http://127.0.0.1:{i.ports[0]}/greeting.txt"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode().strip())


def test_a_pod_app_gets_healthy_rolls_forward_and_back_and_replaces_a_failed_group(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    spec_file = tmp_path / "shop.yaml"
    stop_dir = tmp_path / "stop"
    stop_dir.mkdir()

    # Bad pods are refused with one line, and nothing is created.
    bad = pod_spec(stop_dir, "x")
    bad["containers"][1]["name"] = "web"
    del bad["containers"][0]["resources"]
    spec_file.write_text(yaml.safe_dump(bad))
    code, out = cli_run(cluster, "app", "deploy", str(spec_file))
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    assert "containers[0].resources: is required" in out
    assert "container names must differ: web given twice" in out

    client = ServiceClient(find_service(cluster.master_address))
    try:
        spec_file.write_text(yaml.safe_dump(pod_spec(stop_dir, "hello")))
        code, out = cli_run(cluster, "app", "deploy", str(spec_file), "--wait", "--timeout", "40")
        assert code == 0 and "SUCCEEDED" in out, out
        first = client.app("shop")
        assert settled(first, "v1"), first
        assert [greeting(i) for i in first.instance_list] == ["hello helper"] * 2
        code, shown = cli_run(cluster, "app", "show", "shop")
        assert code == 0
        rows = [line.split() for line in shown.splitlines()]
        assert ["web", "running", "healthy"] in rows
        assert ["helper", "(sidecar)", "running", "healthy"] in rows
        code, logs = cli_run(cluster, "app", "logs", "shop", "--stderr")
        assert code == 0, logs
        web = first.instance_list[0].containers[0].task_id
        assert f"[{web}]" in logs and "GET /greeting.txt" in logs, logs

        # An update rolls out new task groups; a rollback rolls out fresh ones again.
        spec_file.write_text(yaml.safe_dump(pod_spec(stop_dir, "bonjour")))
        assert cli_run(cluster, "app", "deploy", str(spec_file))[0] == 0
        wait_until("v2 everywhere", lambda: settled(client.app("shop"), "v2"), 40)
        second = client.app("shop")
        assert [greeting(i) for i in second.instance_list] == ["bonjour helper"] * 2
        assert cli_run(cluster, "app", "rollback", "shop", "v1")[0] == 0
        wait_until("back on v1", lambda: settled(client.app("shop"), "v1"), 40)
        third = client.app("shop")
        seen = [{i.task_id for i in app.instance_list} for app in (first, second, third)]
        assert len(set.union(*seen)) == 6, seen  # three generations, no instance reused

        # The helper of one instance fails: its web container is killed with it, and the
        # instance is replaced.
        victim = third.instance_list[0]
        helper = next(c for c in victim.containers if c.name == "helper")
        (stop_dir / helper.task_id).touch()

        def replaced() -> bool:
            app = client.app("shop")
            return settled(app, "v1") and victim.task_id not in {
                i.task_id for i in app.instance_list
            }

        wait_until("a replacement", replaced, 40)
        with OperatorClient(cluster.master_address) as operator:
            ended = {c.name: operator.find_task(c.task_id) for c in victim.containers}
        assert ended["helper"].state == pb.TASK_FAILED
        assert ended["web"].state == pb.TASK_KILLED
        assert "task 'shop" in ended["web"].status.message  # killed with its group
        assert ".helper' of its group failed" in ended["web"].status.message

        # A restarted framework takes its pods back: one instance from its store, the
        # other (as if never written down) adopted from the master's tasks, ports and all.
        before = {i.task_id: list(i.ports) for i in client.app("shop").instance_list}
        client.close()
        cluster.framework_daemons["service"].stop()
        assert cluster.work_dir is not None
        with contextlib.closing(Store.open(str(cluster.work_dir / "service"))) as store:
            store.delete_instance(sorted(before)[0])
        cluster.add_framework("service")

        def adopted() -> bool:
            try:
                with ServiceClient(find_service(cluster.master_address)) as fresh:
                    app = fresh.app("shop")
            except ServiceError:
                return False
            return (
                settled(app, "v1")
                and {i.task_id: list(i.ports) for i in app.instance_list} == before
            )

        wait_until("the pods to be adopted", adopted, 40)
    finally:
        # Its tasks must not outlive the test (a torn-down agent leaves them running).
        client.close()
        cli_run(cluster, "app", "delete", "shop")
        with ServiceClient(find_service(cluster.master_address)) as last:
            wait_until("the app to be gone", lambda: "shop" not in [a.id for a in last.apps()])
