"""Pods with plain data: the spec's containers, refused pods, task ids, how container
updates sum up to an instance, and the controller's view of a pod's instance."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from frameworks.service import deployment, pods
from frameworks.service.controller import plan
from frameworks.service.marathon_api import MarathonApi
from frameworks.service.model import (
    Instance,
    container_task_id,
    parse_task_id,
    split_container_task_id,
)
from frameworks.service.scheduler import POD_EXECUTOR, ServiceScheduler, _ask
from frameworks.service.spec import AppSpec, SpecError, parse_spec
from frameworks.service.store import Store
from mesospy.container_info import image_name
from mesospy.http import Request
from mesospy.v1 import common_pb2 as pb

CHECK = {"protocol": "COMMAND", "command": "true", "intervalSeconds": 1}


def pod(**fields: Any) -> dict[str, Any]:
    return {
        "id": "shop",
        "instances": 2,
        "ports": ["http"],
        "containers": [
            {
                "name": "web",
                "cmd": "serve $PORT0",
                "resources": {"cpus": 0.2, "mem": 64},
                "healthCheck": {**CHECK, "maxConsecutiveFailures": 3},
            },
            {
                "name": "logs",
                "args": ["ship", "--to", "x"],
                "resources": {"cpus": 0.1, "mem": 16, "disk": 5},
                "env": {"LEVEL": "info"},
                "healthCheck": CHECK,
                "lifecycle": {"sidecar": True},
            },
        ],
        **fields,
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value.problems


def test_a_pod_spec_sums_its_containers_and_reads_back_its_canonical_form() -> None:
    spec = parse_spec(pod())
    assert spec.is_pod and spec.checked
    assert (spec.cpus, spec.mem, spec.disk) == (0.3, 80.0, 5.0)
    web, logs = spec.containers
    assert (web.name, web.cmd, web.sidecar) == ("web", "serve $PORT0", False)
    assert (logs.args, dict(logs.env), logs.sidecar) == (
        ("ship", "--to", "x"),
        {"LEVEL": "info"},
        True,
    )
    data = spec.to_dict()
    assert "cmd" not in data and "cpus" not in data
    assert data["containers"][1]["lifecycle"] == {"sidecar": True}
    assert parse_spec(data) == spec
    # A container's change is a new config (a rolling update); the count is not.
    changed = pod()
    changed["containers"][1]["env"] = {"LEVEL": "debug"}
    assert parse_spec(changed).config_key() != spec.config_key()
    assert parse_spec(pod(instances=5)).config_key() == spec.config_key()
    # The placement asks for the containers' sum and the executor's share.
    needs = _ask(spec).needs
    assert needs.scalar("cpus") == pytest.approx(0.3 + POD_EXECUTOR.scalar("cpus"))
    assert needs.scalar("mem") == 80.0 + POD_EXECUTOR.scalar("mem")
    assert _ask(spec).ports == (0,)


def test_a_single_container_app_is_as_before() -> None:
    spec = parse_spec({"id": "web", "cmd": "serve"})
    assert not spec.is_pod and not spec.checked and spec.containers == ()
    assert "containers" not in spec.to_dict()
    assert spec.to_dict()["cmd"] == "serve" and spec.cpus == 0.1


def test_bad_pods_are_refused_with_each_problem_by_path() -> None:
    assert problems(pod(containers=[])) == [
        "containers: must list at least one container, such as [{name: web, cmd: ..., "
        "resources: {cpus: 0.1, mem: 32}}]"
    ]
    twice = pod()
    twice["containers"][1]["name"] = "web"
    assert problems(twice) == ["containers: container names must differ: web given twice"]
    bare = pod()
    del bare["containers"][0]["resources"]
    bare["containers"][1]["resources"] = {"cpus": 0.1}
    assert problems(bare) == [
        "containers[0].resources: is required, such as {cpus: 0.1, mem: 32}",
        "containers[1].resources.mem: is required",
    ]
    sidecars = pod()
    sidecars["containers"][0]["lifecycle"] = {"sidecar": True}
    assert problems(sidecars) == [
        "containers: at least one container must be a main one (no lifecycle hook, not a sidecar)"
    ]
    hooked = pod()
    hooked["containers"][1]["lifecycle"] = {"hook": "prestop"}
    assert problems(hooked) == [
        "containers[1].lifecycle.hook: must be one of main, prestart, poststart, not 'prestop'"
    ]
    mixed = pod(cmd="serve", cpus=1, fetch=["http://x/a.tgz"])
    mixed["containers"][0].update(image="no such:image:here", name="Web")
    mixed["containers"][1]["healthCheck"] = {"protocol": "HTTP", "portIndex": 2}
    mixed["containers"][1]["cmd"] = "also"
    found = problems(mixed)
    for expected in (
        "cmd: a pod gives this per container (containers[].cmd)",
        "cpus: a pod gives this per container (containers[].resources)",
        "fetch: is not supported for pods yet: leave it out, or drop containers",
        "containers[0].name: must be lowercase letters, digits and '-', not 'Web'",
        "containers[0].image.image: image 'no such:image:here': bad repository",
        "containers[1].args: give cmd (run by a shell) or args (exec'd), not both",
        "containers[1].healthCheck.portIndex: there are only 1 ports",
    ):
        assert any(p.startswith(expected) for p in found), (expected, found)
    resident = pod(persistentVolumes=[{"containerPath": "data", "size": 16}])
    assert problems(resident) == [
        "persistentVolumes: resident pods are not supported yet: give the volumes to a "
        "one-container app"
    ]
    no_port = pod(ports=[])
    assert problems(no_port)[0].startswith("containers[0].cmd: refers to $PORT0 but the app")


def test_container_task_ids_name_their_instance() -> None:
    task_id = container_task_id("prod_web.api.v3.1f2e3d4c", "logs")
    assert task_id == "prod_web.api.v3.1f2e3d4c.logs"
    assert split_container_task_id(task_id) == ("prod_web.api.v3.1f2e3d4c", "logs")
    assert parse_task_id(task_id) == ("prod/web.api", "v3")
    assert split_container_task_id("prod_web.api.v3.1f2e3d4c") is None
    assert parse_task_id("prod_web.api.v3.1f2e3d4c") == ("prod/web.api", "v3")


def instance(spec: AppSpec) -> Instance:
    return Instance(
        "shop.v1.0000000a", "shop", "v1", launched_at=0.0, containers=pods.new_containers(spec)
    )


def test_container_updates_sum_up_to_the_instance() -> None:
    spec = parse_spec(pod())
    i = instance(spec)
    assert i.task_ids == ["shop.v1.0000000a.web", "shop.v1.0000000a.logs"]
    assert Instance.from_dict(i.to_dict()) == i
    i, ends = pods.observe(i, "web", "running", False, None, "", 1.0)
    assert (i.state, i.healthy, ends) == ("staging", None, False)  # logs not running yet
    i, _ = pods.observe(i, "logs", "running", False, True, "", 2.0)
    i, _ = pods.observe(i, "web", "running", False, True, "", 3.0)
    assert (i.state, i.healthy) == ("running", True)
    i, _ = pods.observe(i, "logs", "running", False, False, "check failed", 4.0)
    assert (i.healthy, i.unhealthy_since) == (False, 4.0)
    # A sidecar that finishes no longer counts: the instance is healthy and goes on.
    i, ends = pods.observe(i, "logs", "finished", True, None, "exited with status 0", 5.0)
    assert (i.state, i.healthy, ends, pods.all_ended(i)) == ("running", True, False, False)
    assert i.task_ids == ["shop.v1.0000000a.web"]
    # A main container ending ends the instance; once all have ended it is gone.
    i, ends = pods.observe(i, "web", "failed", True, None, "exited with status 1", 6.0)
    assert ends and pods.all_ended(i)
    unreachable, _ = pods.observe(instance(spec), "web", "unreachable", False, None, "", 7.0)
    assert (unreachable.state, unreachable.unreachable_since) == ("unreachable", 7.0)


def test_a_failing_sidecar_ends_its_instance() -> None:
    i, ends = pods.observe(instance(parse_spec(pod())), "logs", "failed", True, None, "", 1.0)
    assert ends and not pods.all_ended(i)


def test_the_controller_replaces_a_pod_instance_whose_container_fails_its_check() -> None:
    spec = parse_spec(pod(instances=1, circuitBreaker={"maxUnhealthyShare": 1}))
    app = deployment.succeed(deployment.new_app(spec, 0.0), 1.0)
    i = instance(spec)
    for name in ("web", "logs"):
        i, _ = pods.observe(i, name, "running", False, True, "", 1.0)
    assert plan(app, [i], 2.0).launch == 0
    i, _ = pods.observe(i, "web", "running", False, False, "", 10.0)
    # web's own check: 1 s interval, 3 failures: failed 2 s after it turned unhealthy.
    assert plan(app, [i], 11.0).launch == 0
    assert plan(app, [i], 12.0).launch == 1  # a replacement first, then the kill


MARATHON_POD = {
    "id": "/shop",
    "scaling": {"kind": "fixed", "instances": 2},
    "environment": {"RELEASE": "1"},
    "networks": [{"mode": "host"}],
    "containers": [
        {
            "name": "web",
            "exec": {"command": {"shell": "exec serve $PORT0"}},
            "resources": {"cpus": 0.2, "mem": 64},
            "endpoints": [{"name": "http", "hostPort": 0}],
            "healthCheck": {"http": {"endpoint": "http", "path": "/ok"}, "intervalSeconds": 2},
        },
        {
            "name": "logs",
            "exec": {"command": {"shell": "exec ship"}},
            "resources": {"cpus": 0.1, "mem": 16},
            "image": {"kind": "DOCKER", "id": "registry.local:5000/shipper:1"},
        },
    ],
}


def test_marathon_v2_pods_post_get_and_delete_the_native_pod(tmp_path: Path) -> None:
    scheduler = ServiceScheduler(Store.open(str(tmp_path)), "127.0.0.1:1", clock=lambda: 1.0)
    api = MarathonApi(scheduler, leader=lambda: "127.0.0.1:1")

    def call(method: str, path: str, body: object = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        answer = asyncio.run(api.handle(Request(method, path, {}, data)))
        return answer.status, json.loads(answer.body) if answer.body else None

    try:
        twice = json.loads(json.dumps(MARATHON_POD))
        twice["containers"][1]["name"] = "web"
        twice["containers"][0]["environment"] = {"TOKEN": {"secret": "s"}}
        status, body = call("POST", "/v2/pods", twice)
        assert status == 422, body
        errors = {d["path"]: d["errors"] for d in body["details"]}
        assert errors["/containers"] == ["container names must differ: web given twice"]
        assert errors["/containers(0)/environment/TOKEN"] == ["secrets are not supported"]
        assert scheduler.apps == {}  # nothing changed

        status, body = call("POST", "/v2/pods", MARATHON_POD)
        assert status == 201, body
        spec = scheduler.apps["shop"].spec
        assert [c.name for c in spec.containers] == ["web", "logs"] and spec.ports == ("http",)
        assert spec.containers[0].health_check is not None
        assert spec.containers[0].health_check.path == "/ok"
        assert (spec.instances, dict(spec.env)) == (2, {"RELEASE": "1"})
        assert call("POST", "/v2/pods", MARATHON_POD)[0] == 409
        status, pods_list = call("GET", "/v2/pods")
        assert status == 200 and [p["id"] for p in pods_list] == ["/shop"]
        shown = call("GET", "/v2/pods/shop")[1]
        assert shown["containers"][0]["healthCheck"]["http"] == {
            "endpoint": "http",
            "path": "/ok",
            "scheme": "HTTP",
        }
        assert shown["scaling"] == {"kind": "fixed", "instances": 2}
        assert spec.containers[1].image is not None
        assert shown["containers"][1]["image"] == {
            "kind": "DOCKER",
            "id": "registry.local:5000/shipper:1",
            "forcePull": False,
        }
        assert call("GET", "/v2/apps")[1] == {"apps": []}  # a pod is not an app there
        assert call("GET", "/v2/pods/nope")[0] == 404
        status, _ = call("DELETE", "/v2/pods/shop?force=true")
        assert status == 202 and scheduler.apps["shop"].deleting
    finally:
        scheduler.close()


def test_a_prestart_container_in_its_own_image_runs_first_and_may_finish(tmp_path: Path) -> None:
    data = pod()
    data["containers"][1]["lifecycle"] = {"hook": "prestart"}
    data["containers"][1]["image"] = "registry.local:5000/shipper:1"
    spec = parse_spec(data)
    assert [(c.name, c.hook, c.main) for c in spec.containers] == [
        ("web", "main", True),
        ("logs", "prestart", False),
    ]
    assert parse_spec(spec.to_dict()) == spec
    # The DEFAULT executor orders the group by each task's lifecycle.
    scheduler = ServiceScheduler(Store.open(str(tmp_path)), "127.0.0.1:1", clock=lambda: 1.0)
    i = instance(spec)
    group = scheduler._group(spec, i, _ask(spec).needs).launch_group.task_group.tasks
    lifecycles = {t.task_id.rsplit(".", 1)[1]: t.lifecycle for t in group}
    assert not lifecycles["web"].ByteSize()
    assert lifecycles["logs"].hook == pb.TaskLifecycle.PRESTART and not lifecycles["logs"].sidecar
    # Each container may run in an image of its own.
    images = {t.task_id.rsplit(".", 1)[1]: image_name(t) for t in group}
    assert images == {"web": None, "logs": "registry.local:5000/shipper:1"}
    # Its finishing is expected: the instance goes on once the main container runs.
    i, ends = pods.observe(i, "logs", "finished", True, None, "exited with status 0", 1.0)
    assert not ends
    i, _ = pods.observe(i, "web", "running", False, True, "", 2.0)
    assert (i.state, i.healthy) == ("running", True)
    # A failed prestart ends the instance (the executor has killed the rest).
    _, ends = pods.observe(instance(spec), "logs", "failed", True, None, "exit 1", 3.0)
    assert ends
