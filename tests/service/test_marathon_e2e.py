"""A Marathon app definition deployed as it is with `mesospy app deploy` on a real cluster:
placed by its constraints (@hostname UNIQUE, zone IS), health-checked, with Marathon's
task environment; a definition with a refused field deploys nothing."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from frameworks.service.client import ServiceClient, find_service
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.main import cli
from mesospy.cluster import LocalCluster

from .support import HOSTS, wait_until

FIXTURES = Path(__file__).parent / "marathon"


def run(cluster: LocalCluster, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"MESOSPY_MASTER": cluster.master_address})
    return result.exit_code, result.stdout, result.stderr


def environment_of(port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/env.txt", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_a_marathon_app_deploys_as_it_is(racked_cluster: LocalCluster) -> None:
    code, out, err = run(
        racked_cluster,
        "app",
        "deploy",
        str(FIXTURES / "web-api.json"),
        "--wait",
        "--timeout",
        "90",
    )
    assert code == 0 and "SUCCEEDED" in out, (out, err)
    warnings = [line for line in err.splitlines() if "no effect" in line]
    assert len(warnings) == 1 and "versionInfo" in warnings[0]
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        app = client.app("prod/web.api")
        instances = list(app.instance_list)
        assert app.healthy == 2 and len(instances) == 2
        # @hostname UNIQUE and zone IS zone-b: one on each zone-b agent.
        assert sorted(i.hostname for i in instances) == sorted(HOSTS[2:])
        env = environment_of(instances[0].ports[0])
        assert env["MARATHON_APP_ID"] == "/prod/web.api"
        assert env["MARATHON_APP_VERSION"] == app.version
        assert env["MARATHON_APP_LABEL_TEAM"] == "shop"
        assert set(env["MARATHON_APP_LABELS"].split()) == {"TEAM", "HAPROXY_GROUP"}
        assert env["MARATHON_APP_RESOURCE_CPUS"] == "0.2"
        assert env["PORT_HTTP"] == env["PORT0"] == env["PORTS"] == str(instances[0].ports[0])
        assert env["HOST"] == instances[0].hostname and env["MODE"] == "prod"
        client.call("Delete", spb.AppRequest(app_id="prod/web.api"))


def test_a_refused_field_deploys_nothing(racked_cluster: LocalCluster, tmp_path: Path) -> None:
    definition = json.loads((FIXTURES / "web-api.json").read_text())
    definition["id"] = "/prod/other"
    definition["residency"] = {"taskLostBehavior": "WAIT_FOREVER"}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(definition))
    code, out, err = run(racked_cluster, "app", "deploy", str(path))
    assert code == 1 and len((out + err).strip().splitlines()) == 1
    assert "residency: needs local persistent volumes" in out + err
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        assert "prod/other" not in [a.id for a in client.apps()]


def test_required_ports_are_the_host_ports(racked_cluster: LocalCluster, tmp_path: Path) -> None:
    # Port 30650 is only in the range of the first agent (30600-30699): one instance runs
    # there, the other waits, and says why.
    definition = {
        "id": "/fixed",
        "cmd": "exec sleep 600",
        "cpus": 0.1,
        "mem": 16,
        "instances": 2,
        "portDefinitions": [{"port": 30650, "name": "http"}],
        "requirePorts": True,
        "constraints": [["rack_id", "LIKE", "rack-[12]"]],
    }
    path = tmp_path / "fixed.json"
    path.write_text(json.dumps(definition))
    code, out, err = run(racked_cluster, "app", "deploy", str(path))
    assert code == 0, (out, err)
    expected = (
        "1 instance(s) waiting for an offer: no agent satisfying the constraints has port "
        "30650 free (2 of 4 agents); constraint [rack_id, LIKE, rack-[12]] unsatisfied on "
        "2 of 4 agents"
    )
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        wait_until("the reason", lambda: expected in client.app("fixed").notes)
        instances = list(client.app("fixed").instance_list)
        assert [(i.hostname, list(i.ports)) for i in instances] == [(HOSTS[0], [30650])]
        client.call("Delete", spb.AppRequest(app_id="fixed"))


def test_dependencies_deploy_in_order(racked_cluster: LocalCluster, tmp_path: Path) -> None:
    db = {
        "id": "/shop/db",
        "cmd": "exec sleep 600",
        "cpus": 0.1,
        "mem": 16,
        "portDefinitions": [],
        # Healthy only after its first passing check, a second or so after it starts.
        "healthChecks": [
            {
                "protocol": "COMMAND",
                "command": {"value": "true"},
                "intervalSeconds": 1,
                "gracePeriodSeconds": 30,
                "delaySeconds": 1,
            }
        ],
    }
    web = {**db, "id": "/shop/web", "dependencies": ["db"], "healthChecks": []}
    (tmp_path / "db.json").write_text(json.dumps(db))
    (tmp_path / "web.json").write_text(json.dumps(web))
    code, out, err = run(racked_cluster, "app", "deploy", str(tmp_path / "web.json"))
    assert code == 1 and "dependency 'shop/db' is not an app: deploy it first" in out + err
    assert run(racked_cluster, "app", "deploy", str(tmp_path / "db.json"))[0] == 0
    assert run(racked_cluster, "app", "deploy", str(tmp_path / "web.json"))[0] == 0
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        seen_waiting = False

        def web_runs_only_after_db_is_healthy() -> bool:
            nonlocal seen_waiting
            web_app, db_app = client.app("shop/web"), client.app("shop/db")
            if any("waiting for dependency 'shop/db'" in n for n in web_app.notes):
                seen_waiting = True
            if web_app.instance_list:  # (app.healthy counts instances with ports only)
                assert [i.health for i in db_app.instance_list] == ["healthy"], db_app
            return not web_app.deployment.id and [i.state for i in web_app.instance_list] == [
                "running"
            ]

        wait_until("web after db", web_runs_only_after_db_is_healthy)
        assert seen_waiting
        for app_id in ("shop/web", "shop/db"):
            client.call("Delete", spb.AppRequest(app_id=app_id))
