"""The framework's records in Marathon's JSON: apps, tasks, deployments, events.

The reverse of ``marathon_app``: what the Marathon API answers. An app's definition comes
back in the form ``marathon_app.convert`` reads (so a client can GET an app, change a field
and PUT it back); its state (task counts, tasks, deployments) is added as Marathon's
read-only fields. Versions are Marathon's timestamps (when the version was made); the
native ``v1, v2, ...`` stay inside.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from frameworks.service.events import (
    API_REQUEST,
    APP_REMOVED,
    DEPLOYMENT_ENDED,
    DEPLOYMENT_STARTED,
    HEALTH_CHANGED,
    STATUS_UPDATE,
    Event,
)
from frameworks.service.model import SUCCEEDED, AppRecord, Deployment, Instance
from frameworks.service.spec import AppSpec

# Native health check protocols as Marathon names the agent-run (MESOS_) checks.
PROTOCOLS = {"HTTP": "MESOS_HTTP", "HTTPS": "MESOS_HTTPS", "TCP": "MESOS_TCP"}
# Marathon's task states for the instance states seen here.
TASK_STATES = {
    "staging": "TASK_STAGING",
    "running": "TASK_RUNNING",
    "unreachable": "TASK_UNREACHABLE",
}
ACTIONS = {
    "deploy": "RestartApplication",
    "restart": "RestartApplication",
    "rollback": "RestartApplication",
    "scale": "ScaleApplication",
    "delete": "StopApplication",
}


def iso_time(seconds: float) -> str:
    """Marathon's timestamp form: ``2026-12-07T01:02:03.456Z``."""
    when = datetime.fromtimestamp(seconds, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def version_name(app: AppRecord, version: str) -> str:
    """A native version (``v3``) as Marathon's (when it was made)."""
    return iso_time(app.version_times.get(version, 0.0))


def native_version(app: AppRecord, name: str) -> str | None:
    """The native version a Marathon version names (its timestamp, or ``v3`` as well)."""
    if name in app.versions:
        return name
    return next((v for v in app.versions if version_name(app, v) == name), None)


def definition(spec: AppSpec) -> dict[str, Any]:
    """An app spec as Marathon's app definition (what ``marathon_app.convert`` reads)."""
    out: dict[str, Any] = {
        "id": "/" + spec.id,
        "instances": spec.instances,
        "cpus": spec.cpus,
        "mem": spec.mem,
        "disk": spec.disk,
        "gpus": 0,
        "env": dict(spec.env),
        "labels": dict(spec.labels),
        "constraints": [
            [c.field, c.operator, *([c.value] if c.value else [])] for c in spec.constraints
        ],
        "portDefinitions": [
            {"port": port, "name": name, "protocol": "tcp"}
            for name, port in zip(spec.ports, spec.host_ports or [0] * len(spec.ports), strict=True)
        ],
        "requirePorts": any(spec.host_ports),
        "backoffSeconds": spec.backoff.seconds,
        "backoffFactor": spec.backoff.factor,
        "maxLaunchDelaySeconds": spec.backoff.max_delay,
        "taskKillGracePeriodSeconds": spec.kill_grace_period,
        "killSelection": spec.kill_selection,
        "unreachableStrategy": {
            "inactiveAfterSeconds": spec.unreachable.inactive_after,
            "expungeAfterSeconds": spec.unreachable.expunge_after,
        },
        "healthChecks": _health_checks(spec),
        "readinessChecks": _readiness_checks(spec),
        "dependencies": ["/" + d for d in spec.dependencies],
        "fetch": [_artifact(a.to_dict()) for a in spec.fetch],
    }
    if spec.args:
        out["args"] = list(spec.args)
    elif spec.cmd:
        out["cmd"] = spec.cmd
    if spec.container is not None:
        docker = {"image": spec.container.image, "forcePullImage": spec.container.force_pull}
        out["container"] = {"type": "MESOS", "docker": docker}
    if spec.persistent_volumes:
        out.setdefault("container", {"type": "MESOS"})["volumes"] = [
            {"containerPath": v.container_path, "mode": "RW", "persistent": {"size": v.size}}
            for v in spec.persistent_volumes
        ]
    if spec.user:
        out["user"] = spec.user
    u = spec.upgrade
    if u.minimum_health_capacity is not None or u.maximum_over_capacity is not None:
        out["upgradeStrategy"] = {
            "minimumHealthCapacity": 1.0
            if u.minimum_health_capacity is None
            else u.minimum_health_capacity,
            "maximumOverCapacity": 1.0
            if u.maximum_over_capacity is None
            else u.maximum_over_capacity,
        }
    return out


def _artifact(data: dict[str, Any]) -> dict[str, Any]:
    return {("destPath" if k == "output_file" else k): v for k, v in data.items()}


def _health_checks(spec: AppSpec) -> list[dict[str, Any]]:
    h = spec.health_check
    if h is None:
        return []
    out: dict[str, Any] = {
        "protocol": PROTOCOLS.get(h.protocol, h.protocol),
        "gracePeriodSeconds": h.grace_period,
        "intervalSeconds": h.interval,
        "timeoutSeconds": h.timeout,
        "maxConsecutiveFailures": h.max_failures,
        "delaySeconds": h.delay,
    }
    if h.protocol == "COMMAND":
        out["command"] = {"value": h.command}
    else:
        out["portIndex"] = h.port_index
    if h.protocol in ("HTTP", "HTTPS"):
        out["path"] = h.path
    return [out]


def _readiness_checks(spec: AppSpec) -> list[dict[str, Any]]:
    r = spec.readiness_check
    if r is None or r.port_index >= len(spec.ports):
        return []
    return [
        {
            "name": "readinessCheck",
            "protocol": "HTTP",
            "path": r.path,
            "portName": spec.ports[r.port_index],
            "intervalSeconds": r.interval,
            "timeoutSeconds": r.timeout,
            "httpStatusCodesForReady": list(range(200, 300)),
        }
    ]


def app_json(
    app: AppRecord,
    instances: list[Instance],
    serving: list[Instance],
    embed_tasks: bool = False,
) -> dict[str, Any]:
    """An app as ``GET /v2/apps/{id}`` answers it: its definition and its state."""
    out = definition(app.spec)
    if app.deleting:
        out["instances"] = 0
    live = [i for i in instances if not i.killing]
    checked = app.spec.checked
    out.update(
        version=version_name(app, app.current),
        versionInfo={
            "lastScalingAt": version_name(app, app.current),
            "lastConfigChangeAt": version_name(app, _last_config_change(app)),
        },
        tasksRunning=sum(1 for i in live if i.state == "running"),
        tasksStaged=sum(1 for i in live if i.state == "staging"),
        tasksHealthy=len(serving) if checked else 0,
        tasksUnhealthy=sum(1 for i in live if i.healthy is False),
        deployments=[{"id": app.deployment.id}]
        if app.deployment is not None and app.deployment.active
        else [],
    )
    if embed_tasks:
        out["tasks"] = [task_json(app, i) for i in instances]
    return out


def _last_config_change(app: AppRecord) -> str:
    """The oldest version since which instances run what the current one runs."""
    key = app.spec.config_key()
    since = app.current
    for version in reversed(list(app.versions)):
        if app.versions[version].config_key() != key:
            break
        since = version
    return since


def task_json(app: AppRecord, i: Instance) -> dict[str, Any]:
    """An instance as one of Marathon's tasks."""
    spec = app.versions.get(i.version, app.spec)
    out: dict[str, Any] = {
        "id": i.task_id,
        "appId": "/" + i.app_id,
        "host": i.hostname,
        "ports": list(i.ports),
        "servicePorts": [],
        "slaveId": i.agent_id,
        "stagedAt": iso_time(i.launched_at),
        "version": version_name(app, i.version),
        "state": "TASK_KILLING" if i.killing else TASK_STATES.get(i.state, "TASK_STAGING"),
        "ipAddresses": [],
    }
    if i.state == "running":
        out["startedAt"] = iso_time(i.launched_at)
    if spec.health_check is not None and i.healthy is not None:
        out["healthCheckResults"] = [{"alive": i.healthy, "taskId": i.task_id}]
    return out


def deployment_json(app: AppRecord, d: Deployment) -> dict[str, Any]:
    """A deployment as ``GET /v2/deployments`` lists it (one step, one action)."""
    action = {"action": ACTIONS.get(d.kind, "RestartApplication"), "app": "/" + app.id}
    return {
        "id": d.id,
        "version": version_name(app, d.to_version),
        "affectedApps": ["/" + app.id],
        "affectedPods": [],
        "steps": [{"actions": [action]}],
        "currentActions": [{**action, "readinessCheckResults": []}],
        "currentStep": 1,
        "totalSteps": 1,
    }


def _plan(app: AppRecord, d: Deployment) -> dict[str, Any]:
    """A deployment plan as Marathon's deployment events carry it."""
    action = {"action": ACTIONS.get(d.kind, "RestartApplication"), "app": "/" + app.id}
    return {
        "id": d.id,
        "version": version_name(app, d.to_version),
        "original": {"id": "/", "apps": []},
        "target": {"id": "/", "apps": [definition(app.versions.get(d.to_version, app.spec))]},
        "steps": [{"actions": [action]}],
    }


def event_json(e: Event) -> tuple[str, dict[str, Any]] | None:
    """An event as Marathon's event bus sends it: (its type, its data), or None when
    Marathon has no such event."""
    base: dict[str, Any] = {"timestamp": iso_time(e.at)}
    if e.type in (DEPLOYMENT_STARTED, DEPLOYMENT_ENDED) and e.app and e.deployment:
        d = e.deployment
        if e.type == DEPLOYMENT_STARTED:
            kind = "deployment_info"
            step = {"actions": [{"action": ACTIONS.get(d.kind, ""), "app": "/" + e.app_id}]}
            base.update(plan=_plan(e.app, d), currentStep=step)
        else:
            kind = "deployment_success" if d.status == SUCCEEDED else "deployment_failed"
            base.update(id=d.id, plan=_plan(e.app, d), reason=d.message or d.status)
        return kind, {"eventType": kind, **base}
    if e.type == STATUS_UPDATE and e.instance is not None:
        i = e.instance
        version = version_name(e.app, i.version) if e.app else ""
        base.update(
            appId="/" + e.app_id,
            taskId=i.task_id,
            instanceId=i.task_id,
            slaveId=i.agent_id,
            host=i.hostname,
            ports=list(i.ports),
            ipAddresses=[],
            taskStatus=e.state,
            message=e.message,
            version=version,
        )
        return "status_update_event", {"eventType": "status_update_event", **base}
    if e.type == HEALTH_CHANGED and e.instance is not None:
        i = e.instance
        base.update(appId="/" + e.app_id, taskId=i.task_id, instanceId=i.task_id, alive=e.healthy)
        if e.app:
            base["version"] = version_name(e.app, i.version)
        return "health_status_changed_event", {"eventType": "health_status_changed_event", **base}
    if e.type == APP_REMOVED:
        return "app_terminated_event", {
            "eventType": "app_terminated_event",
            "appId": "/" + e.app_id,
            **base,
        }
    if e.type == API_REQUEST and e.app is not None:
        base.update(clientIp=e.client, uri=e.uri, appDefinition=definition(e.app.spec))
        return "api_post_event", {"eventType": "api_post_event", **base}
    return None
