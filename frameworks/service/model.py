"""The framework's state as plain data: apps (desired), deployments, instances (observed).

``AppRecord`` and ``Deployment`` are what the store keeps (``to_dict``/``from_dict``);
``Instance`` is what the scheduler has observed of one task. Task ids encode the app id,
its version and a unique suffix (``web.v3.1f2e3d4c``), so a restarted framework can adopt
running tasks it reads back from the master.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from frameworks.service.spec import AppSpec, parse_spec

MAX_VERSIONS = 20
MAX_HISTORY = 10

# Deployment statuses.
RUNNING = "RUNNING"
PAUSED = "PAUSED"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"  # the deadline passed and there was nothing to roll back to
ROLLED_BACK = "ROLLED_BACK"
CANCELLED = "CANCELLED"
SUPERSEDED = "SUPERSEDED"
ACTIVE_STATUSES = (RUNNING, PAUSED)


def task_id_for(app_id: str, version: str) -> str:
    """A new instance's task id: app id ('/' as '_'), version, unique suffix."""
    return f"{app_id.replace('/', '_')}.{version}.{uuid.uuid4().hex[:8]}"


def container_task_id(instance_id: str, name: str) -> str:
    """The task id of container ``name`` of a pod's instance (Marathon's form)."""
    return f"{instance_id}.{name}"


_POD_TASK = re.compile(r"^(?P<instance>.+\.v\d+\.[0-9a-f]{8})\.(?P<name>[a-z0-9-]+)$")


def split_container_task_id(task_id: str) -> tuple[str, str] | None:
    """(instance id, container name) of a pod's task id, or None for an app's own task."""
    match = _POD_TASK.match(task_id)
    return (match["instance"], match["name"]) if match else None


def parse_task_id(task_id: str) -> tuple[str, str] | None:
    """(app id, version) from a task id made by ``task_id_for`` (or of a pod's container)."""
    pod = split_container_task_id(task_id)
    parts = (pod[0] if pod else task_id).rsplit(".", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0].replace("_", "/"), parts[1]


@dataclass(frozen=True)
class Deployment:
    """A change being rolled out: from one version to another."""

    id: str
    app_id: str
    kind: str  # deploy, scale, restart, rollback, delete
    from_version: str
    to_version: str
    started_at: float
    deadline: float
    status: str = RUNNING
    auto_rollback: bool = True
    failures: int = 0  # instances of to_version that failed during the deployment
    best_available: int = 0  # most available new instances seen (progress resets deadline)
    finished_at: float = 0.0
    message: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        return cls(**data)


@dataclass(frozen=True)
class AppRecord:
    """Everything the framework keeps about one app."""

    id: str
    versions: dict[str, AppSpec]  # oldest first
    version_times: dict[str, float]
    current: str
    last_healthy: str = ""
    deployment: Deployment | None = None
    history: tuple[Deployment, ...] = ()
    deleting: bool = False
    next_version: int = 2
    failures: int = 0  # consecutive instance failures (backoff), reset by a healthy instance
    delay_until: float = 0.0  # no launches before this (backoff)
    restarts: int = 0  # launches after failures, for the restart limit
    failed_versions: tuple[str, ...] = ()

    @property
    def spec(self) -> AppSpec:
        return self.versions[self.current]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "versions": {v: s.to_dict() for v, s in self.versions.items()},
            "version_times": self.version_times,
            "current": self.current,
            "last_healthy": self.last_healthy,
            "deployment": self.deployment.to_dict() if self.deployment else None,
            "history": [d.to_dict() for d in self.history],
            "deleting": self.deleting,
            "next_version": self.next_version,
            "failures": self.failures,
            "delay_until": self.delay_until,
            "restarts": self.restarts,
            "failed_versions": list(self.failed_versions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppRecord:
        deployment = data.get("deployment")
        return cls(
            id=data["id"],
            versions={v: parse_spec(s, stored=True) for v, s in data["versions"].items()},
            version_times={k: float(t) for k, t in data["version_times"].items()},
            current=data["current"],
            last_healthy=data.get("last_healthy", ""),
            deployment=Deployment.from_dict(deployment) if deployment else None,
            history=tuple(Deployment.from_dict(d) for d in data.get("history", [])),
            deleting=bool(data.get("deleting", False)),
            next_version=int(data.get("next_version", 2)),
            failures=int(data.get("failures", 0)),
            delay_until=float(data.get("delay_until", 0.0)),
            restarts=int(data.get("restarts", 0)),
            failed_versions=tuple(data.get("failed_versions", ())),
        )

    def with_(self, **changes: Any) -> AppRecord:
        return replace(self, **changes)


@dataclass(frozen=True)
class ContainerState:
    """One container of a pod's instance as observed: its task's state (Mesos's name in
    lower case: staging, running, finished, ...) and health."""

    name: str
    sidecar: bool = False
    checked: bool = False  # it has a health check
    state: str = "staging"
    ended: bool = False  # its task reached a terminal state
    healthy: bool | None = None
    unhealthy_since: float | None = None
    message: str = ""

    @property
    def counts(self) -> bool:
        """Whether it counts for the instance: a sidecar that finished no longer does."""
        return not (self.sidecar and self.state == "finished")


@dataclass(frozen=True)
class Instance:
    """One task of an app as observed through status updates; for a pod, one task group
    (``task_id`` is then the instance's id, and each container's task is in ``containers``).
    """

    task_id: str
    app_id: str
    version: str
    agent_id: str = ""
    hostname: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    state: str = "staging"  # staging, running, unreachable
    healthy: bool | None = None
    ready: bool = True
    launched_at: float = 0.0
    unhealthy_since: float | None = None
    unreachable_since: float | None = None
    killing: bool = False  # we asked for it to stop (draining, then killed)
    kill_reason: str = ""
    inactive: bool = False  # unreachable past inactive_after: replaced; killed if it returns
    containers: tuple[ContainerState, ...] = ()  # a pod's, in the spec's order

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ports"] = list(self.ports)
        if self.containers:
            data["containers"] = [asdict(c) for c in self.containers]
        else:
            del data["containers"]  # an app's instance is stored as before
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instance:
        data = dict(data)
        data["ports"] = tuple(data.get("ports", ()))
        data["containers"] = tuple(ContainerState(**c) for c in data.get("containers", ()))
        return cls(**data)

    @property
    def task_ids(self) -> list[str]:
        """The tasks it runs: its own, or its containers' that have not ended."""
        if not self.containers:
            return [self.task_id]
        return [container_task_id(self.task_id, c.name) for c in self.containers if not c.ended]

    def with_(self, **changes: Any) -> Instance:
        return replace(self, **changes)
