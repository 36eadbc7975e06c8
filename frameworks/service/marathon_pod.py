"""Marathon's pod definition (``/v2/pods``) read onto the native pod spec, and back.

A thin adapter, as ``marathon_app`` is for apps: ``convert_pod`` maps Marathon's fields
onto the native form (``containers``, pod-level ``ports`` gathered from the containers'
``endpoints``) and ``parse_spec`` validates it like any native file. Fields that cannot
apply here are refused, naming them. ``pod_json`` answers a pod in Marathon's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from frameworks.service.marathon_json import iso_time, version_name
from frameworks.service.model import AppRecord, Instance, container_task_id
from frameworks.service.spec import AppSpec, HealthCheckSpec, SpecError, parse_spec

POD_FIELDS = {"id", "version", "scaling", "containers", "environment", "labels", "networks"}
POD_FIELDS |= {"scheduling"}
CONTAINER_FIELDS = {"name", "exec", "resources", "environment", "healthCheck", "endpoints"}
CONTAINER_FIELDS |= {"lifecycle", "labels", "image"}
CHECK_TIMES = {
    "gracePeriodSeconds": "gracePeriodSeconds",
    "intervalSeconds": "intervalSeconds",
    "timeoutSeconds": "timeoutSeconds",
    "maxConsecutiveFailures": "maxConsecutiveFailures",
    "delaySeconds": "delaySeconds",
}


def convert_pod(data: Mapping[str, Any]) -> AppSpec:
    """A Marathon pod definition as a native spec; SpecError lists every problem."""
    problems: list[str] = []
    native = _native(data, problems)
    try:
        spec = parse_spec(native)
    except SpecError as exc:
        raise SpecError(problems + exc.problems) from exc
    if problems:
        raise SpecError(problems)
    return spec


def _native(data: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    for key in data:
        if key not in POD_FIELDS:
            problems.append(f"{key}: not supported here (known: {', '.join(sorted(POD_FIELDS))})")
    for n, network in enumerate(data.get("networks") or []):
        if not isinstance(network, Mapping) or network.get("mode", "host") != "host":
            problems.append(f"networks[{n}]: only host networking is supported")
    native: dict[str, Any] = {"id": data.get("id"), "env": _env(data, "", problems)}
    if "labels" in data:
        native["labels"] = data["labels"]
    scaling = data.get("scaling") or {}
    if isinstance(scaling, Mapping):
        if scaling.get("kind", "fixed") != "fixed":
            problems.append("scaling.kind: only 'fixed' is supported")
        native["instances"] = scaling.get("instances", 1)
    scheduling = data.get("scheduling") or {}
    placement = scheduling.get("placement", {}) if isinstance(scheduling, Mapping) else {}
    constraints = placement.get("constraints", []) if isinstance(placement, Mapping) else []
    native["constraints"] = [
        [c.get("fieldName"), c.get("operator"), *([c["value"]] if c.get("value") else [])]
        for c in constraints
        if isinstance(c, Mapping)
    ]
    containers = data.get("containers")
    ports: list[dict[str, Any]] = []
    native["ports"] = ports
    if not isinstance(containers, list):
        native["containers"] = containers
        return native
    native["containers"] = [
        _container(c, f"containers[{n}].", ports, problems) if isinstance(c, Mapping) else c
        for n, c in enumerate(containers)
    ]
    return native


def _env(data: Mapping[str, Any], p: str, problems: list[str]) -> Any:
    env = data.get("environment", {})
    if isinstance(env, Mapping):
        for key, value in env.items():
            if isinstance(value, Mapping):
                problems.append(f"{p}environment.{key}: secrets are not supported")
    return env


def _container(
    c: Mapping[str, Any], p: str, ports: list[dict[str, Any]], problems: list[str]
) -> dict[str, Any]:
    for key in c:
        if key not in CONTAINER_FIELDS:
            known = ", ".join(sorted(CONTAINER_FIELDS))
            problems.append(f"{p}{key}: not supported here (known: {known})")
    out: dict[str, Any] = {"name": c.get("name"), "env": _env(c, p, problems)}
    command = (c.get("exec") or {}).get("command", {}) if isinstance(c.get("exec"), Mapping) else {}
    if isinstance(command, Mapping) and "shell" in command:
        out["cmd"] = command["shell"]
    elif isinstance(command, Mapping) and "argv" in command:
        out["args"] = command["argv"]
    if "resources" in c:
        out["resources"] = c["resources"]
    image = c.get("image")
    if isinstance(image, Mapping):  # {kind: DOCKER, id, forcePull}
        if image.get("kind", "DOCKER") != "DOCKER":
            problems.append(f"{p}image.kind: only DOCKER images are supported")
        out["image"] = {"image": image.get("id"), "forcePullImage": bool(image.get("forcePull"))}
    elif image is not None:
        problems.append(f'{p}image: must be {{"kind": "DOCKER", "id": "NAME"}}')
    for endpoint in c.get("endpoints") or []:
        if isinstance(endpoint, Mapping):
            port = {"name": endpoint.get("name", "")}
            if endpoint.get("hostPort"):
                port["hostPort"] = endpoint["hostPort"]
            ports.append(port)
    check = c.get("healthCheck")
    if isinstance(check, Mapping):
        out["healthCheck"] = _check(check, [port["name"] for port in ports], p, problems)
    return out


def _check(
    check: Mapping[str, Any], names: list[str], p: str, problems: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {k: check[m] for m, k in CHECK_TIMES.items() if m in check}
    if isinstance(check.get("http"), Mapping):
        http = check["http"]
        out.update(protocol=str(http.get("scheme", "HTTP")), path=http.get("path", "/"))
        out["portIndex"] = _endpoint(http.get("endpoint"), names, p, problems)
    elif isinstance(check.get("tcp"), Mapping):
        out.update(protocol="TCP")
        out["portIndex"] = _endpoint(check["tcp"].get("endpoint"), names, p, problems)
    elif isinstance(check.get("exec"), Mapping):
        command = check["exec"].get("command", {})
        out.update(protocol="COMMAND", command=command.get("shell", ""))
    else:
        problems.append(f"{p}healthCheck: give http, tcp or exec")
    return out


def _endpoint(name: object, names: list[str], p: str, problems: list[str]) -> int:
    if name in names:
        return names.index(str(name))
    problems.append(f"{p}healthCheck: endpoint {name!r} is not an endpoint of the pod")
    return 0


def pod_json(app: AppRecord, instances: list[Instance]) -> dict[str, Any]:
    """A pod as Marathon answers ``GET /v2/pods/{id}`` (its definition), with the
    instances' container states under ``instances`` (as ``::status`` would)."""
    spec = app.spec
    containers = []
    for n, c in enumerate(spec.containers):
        command = {"argv": list(c.args)} if c.args else {"shell": c.cmd}
        out: dict[str, Any] = {
            "name": c.name,
            "exec": {"command": command},
            "resources": {"cpus": c.cpus, "mem": c.mem, "disk": c.disk},
            "environment": dict(c.env),
        }
        if n == 0 and spec.ports:
            out["endpoints"] = [{"name": name, "hostPort": 0} for name in spec.ports]
        if c.health_check is not None:
            out["healthCheck"] = _check_json(c.health_check, spec)
        if c.image is not None:
            out["image"] = {"kind": "DOCKER", "id": c.image.image, "forcePull": c.image.force_pull}
        containers.append(out)
    return {
        "id": "/" + app.id,
        "version": iso_time(app.version_times.get(app.current, 0.0)),
        "versionName": version_name(app, app.current),
        "scaling": {"kind": "fixed", "instances": spec.instances},
        "environment": dict(spec.env),
        "labels": dict(spec.labels),
        "networks": [{"mode": "host"}],
        "containers": containers,
        "instances": [
            {
                "id": i.task_id,
                "agentHostname": i.hostname,
                "status": i.state,
                "containers": [
                    {
                        "name": c.name,
                        "containerId": container_task_id(i.task_id, c.name),
                        "status": c.state,
                        "healthy": c.healthy,
                    }
                    for c in i.containers
                ],
            }
            for i in instances
        ],
    }


def _check_json(h: HealthCheckSpec, spec: AppSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "gracePeriodSeconds": h.grace_period,
        "intervalSeconds": h.interval,
        "timeoutSeconds": h.timeout,
        "maxConsecutiveFailures": h.max_failures,
        "delaySeconds": h.delay,
    }
    if h.protocol == "COMMAND":
        out["exec"] = {"command": {"shell": h.command}}
    elif h.protocol == "TCP":
        out["tcp"] = {"endpoint": spec.ports[h.port_index]}
    else:
        out["http"] = {"endpoint": spec.ports[h.port_index], "path": h.path, "scheme": h.protocol}
    return out
