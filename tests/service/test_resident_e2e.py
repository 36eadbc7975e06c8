"""A resident app on real processes: its instance keeps its volume on its agent through a
killed task, an agent restart, a framework restart and an update; a second instance
reserves its own and gives it back when scaled down; deleting the app gives the reservation
back and deletes the volume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from frameworks.service.client import ServiceClient, find_service
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.main import cli
from mesospy.resources import Resources
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import fast_master_flags, running_cluster

from .support import wait_until

ROLE = "db"
APP = {
    "id": "db",
    "cmd": "echo hi >> data/f; exec sleep 300",
    "cpus": 0.25,
    "mem": 32,
    "persistentVolumes": [{"containerPath": "data", "size": 64}],
    "backoff": {"seconds": 0.2, "factor": 1.0},
    "killGracePeriodSeconds": 0.5,
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("resident"),
        agents=1,
        agent_resources="cpus:2;mem:512;disk:256;ports:[31800-31899]",
        master_flags=fast_master_flags(),
        frameworks=["service"],
        framework_args={"service": ["--role", ROLE]},
    ) as c:
        yield c


def client(cluster: LocalCluster) -> ServiceClient:
    return ServiceClient(find_service(cluster.master_address))


def running(cluster: LocalCluster) -> list[spb.Instance]:
    with client(cluster) as c:
        app = c.app("db")
    return [i for i in app.instance_list if i.state == "running" and not i.killing]


def volume_files(cluster: LocalCluster) -> list[Path]:
    assert cluster.work_dir is not None
    return list((cluster.work_dir / "agent-0" / "volumes" / "roles" / ROLE).glob("*/f"))


def lines(cluster: LocalCluster) -> int:
    """Lines of the file of the (first) instance's volume."""
    found = [len(path.read_text().splitlines()) for path in volume_files(cluster)]
    return max(found, default=0)


def agent(cluster: LocalCluster) -> tuple[Resources, Resources]:
    """The agent's total and its static resources, as the master has them."""
    (a,) = cluster.state().agents
    return Resources.from_proto(a.total_resources), Resources.from_proto(a.agent_info.resources)


def kill_task(cluster: LocalCluster) -> None:
    daemon = cluster.agent_daemons[0]
    assert daemon.process is not None
    for p in psutil.Process(daemon.process.pid).children(recursive=True):
        if "sleep 300" in " ".join(p.cmdline()):
            p.kill()


def test_resident_instance_keeps_its_volume_and_gives_it_back(cluster: LocalCluster) -> None:
    with client(cluster) as c:
        c.deploy(json.dumps(APP))
    wait_until("the first instance and its line", lambda: running(cluster) and lines(cluster) == 1)
    total, static = agent(cluster)
    reserved = total.reserved(ROLE)
    assert reserved.flatten() == Resources.parse("cpus:0.25;mem:32;disk:64")
    (labels,) = {i.reservation.labels for i, _ in reserved.parts() if i.reservation}
    assert ("mesospy.service.app", "db") in labels

    env = {"MESOSPY_MASTER": cluster.master_address}
    shown = CliRunner().invoke(cli, ["app", "show", "db"], env=env)
    assert shown.exit_code == 0, shown.output
    (agent_id,) = [a.agent_info.id for a in cluster.state().agents]
    assert "db#data#" in shown.output and agent_id in shown.output, shown.output

    # The task dies: its replacement runs on the same reservation and finds the line.
    first = running(cluster)[0].task_id
    kill_task(cluster)
    wait_until(
        "a second instance on the volume",
        lambda: lines(cluster) == 2 and any(i.task_id != first for i in running(cluster)),
    )

    # The agent restarts (its tasks killed) and the framework restarts: the instance
    # comes back to the same reservation and volume, with both lines there.
    daemon = cluster.agent_daemons[0]
    daemon.stop()
    service = cluster.framework_daemons["service"]
    service.stop()
    daemon.start_on_new_ports()
    service.start_on_new_ports()
    wait_until("a third instance on the volume", lambda: lines(cluster) == 3, timeout=90)
    (path,) = volume_files(cluster)
    assert path.read_text() == "hi\nhi\nhi\n"
    assert agent(cluster)[0] == total  # no second reservation was made

    # An update (restart) replaces the instance in place.
    with client(cluster) as c:
        c.call("Restart", spb.AppRequest(app_id="db"))
    wait_until("the updated instance on the volume", lambda: lines(cluster) == 4)
    assert agent(cluster)[0] == total
    # Scaled up, a second instance reserves its own; scaled down, that one is given back.
    with client(cluster) as c:
        c.call("Scale", spb.ScaleRequest(app_id="db", instances=2))
    wait_until("a second volume", lambda: len(volume_files(cluster)) == 2)
    wait_until("two reservations", lambda: agent(cluster)[0].reserved(ROLE).cpus == 0.5)
    with client(cluster) as c:
        c.call("Scale", spb.ScaleRequest(app_id="db", instances=1))
    wait_until("one reservation again", lambda: agent(cluster)[0] == total)
    assert volume_files(cluster) == [path] and lines(cluster) == 4

    with client(cluster) as c:
        c.call("Delete", spb.AppRequest(app_id="db"))
    wait_until("the reservation given back", lambda: agent(cluster)[0] == static)
    wait_until("the volume deleted", lambda: not volume_files(cluster))
