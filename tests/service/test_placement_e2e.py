"""Placement on a real cluster of four agents on four hostnames (all loopback names) and
four racks: co-location constraints place every instance on the agent they allow, and an
app that cannot be placed is shown with the real reason."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from frameworks.service.client import ServiceClient, find_service
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.main import cli
from mesospy.cluster import LocalCluster

from .support import HOSTS, wait_until


def app(app_id: str, constraints: list[list[str]], **more: Any) -> str:
    spec = {
        "id": app_id,
        "cmd": "exec sleep 600",
        "instances": 3,
        "cpus": 0.1,
        "mem": 16,
        "constraints": constraints,
        **more,
    }
    return json.dumps(spec)


def placed(client: ServiceClient, app_id: str) -> list[spb.Instance]:
    return list(client.app(app_id).instance_list)


CO_LOCATED = {
    "on-rack-1": [["rack_id", "CLUSTER", "rack-1"]],
    "one-rack": [["rack_id", "CLUSTER"]],
    "one-host": [["hostname", "CLUSTER"]],
    "like": [["rack_id", "LIKE", "rack-[12]"]],
    "max-per-2": [["hostname", "MAX_PER", "2"]],
}


def test_co_location_places_every_instance(racked_cluster: LocalCluster) -> None:
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        for app_id, constraints in CO_LOCATED.items():
            client.deploy(app(app_id, constraints))
        for app_id in CO_LOCATED:
            wait_until(f"3 instances of {app_id}", lambda a=app_id: len(placed(client, a)) == 3)
        hosts = {a: [i.hostname for i in placed(client, a)] for a in CO_LOCATED}
        assert hosts["on-rack-1"] == ["127.0.0.1"] * 3
        assert len(set(hosts["one-rack"])) == 1 and len(set(hosts["one-host"])) == 1
        assert set(hosts["like"]) <= {"127.0.0.1", "localhost"}
        assert max(hosts["max-per-2"].count(h) for h in HOSTS) <= 2
        for app_id in CO_LOCATED:
            client.call("Delete", spb.AppRequest(app_id=app_id))


def test_the_reason_shown_for_an_unplaced_instance_is_the_real_one(
    racked_cluster: LocalCluster,
) -> None:
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        client.deploy(app("too-big", [["rack_id", "CLUSTER", "rack-1"]], cpus=5, instances=1))
        expected = (
            "1 instance(s) waiting for an offer: no agent with rack_id=rack-1 has "
            "cpus:5;mem:16 free (1 of 4 agents); "
            "constraint [rack_id, CLUSTER, rack-1] unsatisfied on 3 of 4 agents"
        )
        wait_until("the reason", lambda: expected in client.app("too-big").notes)
        result = CliRunner().invoke(
            cli, ["app", "show", "too-big"], env={"MESOSPY_MASTER": racked_cluster.master_address}
        )
        assert result.exit_code == 0 and expected in " ".join(result.output.split())
        client.call("Delete", spb.AppRequest(app_id="too-big"))


def test_marathon_constraint_fields_place_instances(racked_cluster: LocalCluster) -> None:
    # Before, @hostname and @zone were read as attributes no agent had: nothing placed.
    with ServiceClient(find_service(racked_cluster.master_address)) as client:
        client.deploy(app("per-host", [["@hostname", "UNIQUE"]]))
        client.deploy(app("zone-b", [["@zone", "IS", "zone-b"]]))
        for app_id in ("per-host", "zone-b"):
            wait_until(f"3 instances of {app_id}", lambda a=app_id: len(placed(client, a)) == 3)
        assert len({i.hostname for i in placed(client, "per-host")}) == 3
        assert {i.hostname for i in placed(client, "zone-b")} <= set(HOSTS[2:])
        client.deploy(app("no-region", [["@region", "IS", "eu"]], instances=1))
        expected = (
            "constraint [@region, IS, eu] unsatisfied on all 4 agents "
            "(no agent has a region attribute)"
        )
        wait_until("the reason", lambda: any(expected in n for n in client.app("no-region").notes))
        for app_id in ("per-host", "zone-b", "no-region"):
            client.call("Delete", spb.AppRequest(app_id=app_id))
