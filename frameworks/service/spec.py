"""App specs: parsed from YAML/JSON, validated with every problem listed by field path.

A spec is plain data (frozen dataclasses). ``to_dict`` gives its canonical form, which is
what the store keeps and what ``config_key`` compares: two versions with the same
``config_key`` run the same instances, so scaling never restarts anything.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from mesospy.scheduler import Artifact, ContainerSpec, parse_container, parse_fetch

# '/'-separated parts of '.'-separated labels (Marathon's ids: "/prod/web.api").
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_PART = rf"{_LABEL}(\.{_LABEL})*"
APP_ID = re.compile(rf"^{_PART}(/{_PART})*$")
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
# Marathon's fields that are not attribute names (see constraints.Place.value).
SPECIAL_FIELDS = ("@hostname", "@region", "@zone")
BALANCE = ("round-robin", "least-connections")
KILL_SELECTION = ("YOUNGEST_FIRST", "OLDEST_FIRST")
PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND")


class SpecError(ValueError):
    """A spec was refused; ``problems`` lists each one as ``field.path: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Constraint:
    """``[field, operator, value]``: field is ``hostname``/``@hostname``, ``@region``,
    ``@zone`` or an agent attribute; ``IS`` is Marathon's exact match (as CLUSTER with a
    value)."""

    field: str
    operator: str
    value: str = ""


@dataclass(frozen=True)
class HealthCheckSpec:
    protocol: str = "HTTP"
    path: str = "/"
    port_index: int = 0
    command: str = ""
    grace_period: float = 15.0
    interval: float = 10.0
    timeout: float = 5.0
    max_failures: int = 3  # 0: never replaced for failing checks (Marathon's meaning)
    delay: float = 0.0


@dataclass(frozen=True)
class ReadinessCheckSpec:
    """Probed by the framework over HTTP; an instance takes traffic once it answers."""

    path: str = "/"
    port_index: int = 0
    interval: float = 1.0
    timeout: float = 2.0


@dataclass(frozen=True)
class UpgradeStrategy:
    max_surge: str = "25%"  # an int or a percentage of instances, as Kubernetes
    max_unavailable: str = "0"
    # Marathon's knobs; when given they replace max_surge/max_unavailable.
    minimum_health_capacity: float | None = None
    maximum_over_capacity: float | None = None
    progress_deadline: float = 600.0
    auto_rollback: bool = True
    rollback_after_failures: int = 3


@dataclass(frozen=True)
class BackoffSpec:
    seconds: float = 1.0
    factor: float = 1.15
    max_delay: float = 300.0


@dataclass(frozen=True)
class UnreachableStrategy:
    inactive_after: float = 300.0
    expunge_after: float = 600.0


@dataclass(frozen=True)
class VipSpec:
    host: str = "127.0.0.1"
    port: int = 0
    balance: str = "round-robin"


@dataclass(frozen=True)
class PodContainer:
    """One container of a pod's instance (Marathon pods' containers, Nomad group tasks):
    its own command, resources, environment and health check. A ``sidecar`` helps the
    main containers: it may finish (exit 0) without ending the instance. A ``hook``
    (Nomad's lifecycle) orders it in the group: ``prestart`` ones run (to completion,
    unless also sidecars) before the main containers start, ``poststart`` ones once they
    have; both may finish without ending the instance, and failing ends it."""

    name: str
    cmd: str  # empty when ``args`` is given
    cpus: float
    mem: float
    disk: float = 0.0
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    health_check: HealthCheckSpec | None = None
    sidecar: bool = False
    hook: str = "main"  # main, prestart or poststart
    image: ContainerSpec | None = None  # its own image (the DEFAULT executor's group task)

    @property
    def main(self) -> bool:
        """One of the instance's main containers (not a helper)."""
        return self.hook == "main" and not self.sidecar

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "resources": {"cpus": self.cpus, "mem": self.mem, "disk": self.disk},
        }
        if self.args:
            out["args"] = list(self.args)
        else:
            out["cmd"] = self.cmd
        if self.env:
            out["env"] = dict(self.env)
        if self.health_check is not None:
            out["healthCheck"] = _health_dict(self.health_check)
        if self.image is not None:
            out["image"] = self.image.to_dict("forcePullImage")
        if self.hook != "main":
            out["lifecycle"] = {"hook": self.hook, "sidecar": self.sidecar}
        elif self.sidecar:
            out["lifecycle"] = {"sidecar": True}
        return out


@dataclass(frozen=True)
class PersistentVolumeSpec:
    """A local persistent volume of a resident app: ``size`` MB of reserved disk, seen by
    each instance at ``container_path`` (relative to its sandbox), kept across restarts."""

    container_path: str
    size: float


@dataclass(frozen=True)
class AppSpec:
    """One version of an app, as the user wrote it (defaults filled in)."""

    id: str
    cmd: str  # a shell command; empty when ``args`` is given (or the image's Cmd runs)
    instances: int = 1
    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 0.0
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[str, ...] = ()  # names; values come from offers as PORT0..n
    constraints: tuple[Constraint, ...] = ()
    health_check: HealthCheckSpec | None = None
    readiness_check: ReadinessCheckSpec | None = None
    backoff: BackoffSpec = BackoffSpec()
    max_restarts: int | None = None
    kill_grace_period: float = 3.0
    kill_selection: str = "YOUNGEST_FIRST"
    unreachable: UnreachableStrategy = UnreachableStrategy()
    upgrade: UpgradeStrategy = UpgradeStrategy()
    max_unhealthy_share: float = 0.5  # the circuit breaker
    vip: VipSpec | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_nonce: int = 0  # bumped by `app restart` so every instance is replaced
    fetch: tuple[Artifact, ...] = ()  # artifacts fetched into each instance's sandbox
    args: tuple[str, ...] = ()  # an argv exec'd without a shell, instead of cmd
    user: str = ""  # run as this user (when the agent runs as root); "": the default
    host_ports: tuple[int, ...] = ()  # by port: a fixed port, 0 any; () all any
    marathon_env: bool = False  # tasks also get Marathon's MARATHON_APP_* variables
    dependencies: tuple[str, ...] = ()  # app ids deployed (and available) first
    container: ContainerSpec | None = None  # {image, forcePullImage}: run in an image
    # A pod: each instance runs these together as one task group on one agent (cmd is
    # then empty; cpus, mem and disk are their sums). (): one container, from cmd/args.
    containers: tuple[PodContainer, ...] = ()

    @property
    def is_pod(self) -> bool:
        return bool(self.containers)

    @property
    def checked(self) -> bool:
        """Whether its instances have a health check (a pod: in some container)."""
        if self.containers:
            return any(c.health_check is not None for c in self.containers)
        return self.health_check is not None

    def pod_container(self, name: str) -> PodContainer | None:
        return next((c for c in self.containers if c.name == name), None)
    # Resident: each instance reserves its resources and volumes on one agent (resident.py).
    persistent_volumes: tuple[PersistentVolumeSpec, ...] = ()

    @property
    def resident(self) -> bool:
        """Whether instances keep reservations and volumes on their agents."""
        return bool(self.persistent_volumes)

    def to_dict(self) -> dict[str, Any]:
        """The canonical form (what ``parse_spec`` reads back to an equal spec)."""
        out: dict[str, Any] = {
            "id": self.id,
            "cmd": self.cmd,
            "instances": self.instances,
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "env": dict(self.env),
            "ports": [{"name": p} for p in self.ports],
            "constraints": [
                [c.field, c.operator, *([c.value] if c.value else [])] for c in self.constraints
            ],
            "backoff": {
                "seconds": self.backoff.seconds,
                "factor": self.backoff.factor,
                "maxDelaySeconds": self.backoff.max_delay,
            },
            "killGracePeriodSeconds": self.kill_grace_period,
            "killSelection": self.kill_selection,
            "unreachableStrategy": {
                "inactiveAfterSeconds": self.unreachable.inactive_after,
                "expungeAfterSeconds": self.unreachable.expunge_after,
            },
            "upgradeStrategy": _upgrade_dict(self.upgrade),
            "circuitBreaker": {"maxUnhealthyShare": self.max_unhealthy_share},
            "labels": dict(self.labels),
        }
        if self.max_restarts is not None:
            out["maxRestarts"] = self.max_restarts
        if self.health_check is not None:
            out["healthCheck"] = _health_dict(self.health_check)
        if self.readiness_check is not None:
            r = self.readiness_check
            out["readinessCheck"] = {
                "path": r.path,
                "portIndex": r.port_index,
                "intervalSeconds": r.interval,
                "timeoutSeconds": r.timeout,
            }
        if self.vip is not None:
            out["vip"] = {"host": self.vip.host, "port": self.vip.port, "balance": self.vip.balance}
        if self.restart_nonce:
            out["restartNonce"] = self.restart_nonce
        if self.fetch:  # only when set: existing apps keep their config_key
            out["fetch"] = [artifact.to_dict() for artifact in self.fetch]
        if self.args:
            out["args"] = list(self.args)
        if not self.cmd:  # args, or the image's Entrypoint/Cmd
            del out["cmd"]
        if self.user:
            out["user"] = self.user
        if any(self.host_ports):
            for entry, port in zip(out["ports"], self.host_ports, strict=True):
                if port:
                    entry["hostPort"] = port
        if self.marathon_env:
            out["marathonEnv"] = True
        if self.dependencies:
            out["dependencies"] = ["/" + d for d in self.dependencies]  # absolute
        if self.container is not None:  # likewise
            out["container"] = self.container.to_dict("forcePullImage")
        if self.containers:  # a pod: its containers carry the commands and resources
            for key in ("cmd", "cpus", "mem", "disk"):
                out.pop(key, None)
            out["containers"] = [c.to_dict() for c in self.containers]
        if self.persistent_volumes:
            out["persistentVolumes"] = [
                {"containerPath": v.container_path, "size": v.size} for v in self.persistent_volumes
            ]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def config_key(self) -> str:
        """What an instance runs: everything but the instance count (and the VIP)."""
        data = self.to_dict()
        for key in ("instances", "vip", "upgradeStrategy", "circuitBreaker"):
            data.pop(key, None)
        return json.dumps(data, sort_keys=True)


def _health_dict(h: HealthCheckSpec) -> dict[str, Any]:
    return {
        "protocol": h.protocol,
        "path": h.path,
        "portIndex": h.port_index,
        "command": h.command,
        "gracePeriodSeconds": h.grace_period,
        "intervalSeconds": h.interval,
        "timeoutSeconds": h.timeout,
        "maxConsecutiveFailures": h.max_failures,
        "delaySeconds": h.delay,
    }


def _upgrade_dict(u: UpgradeStrategy) -> dict[str, Any]:
    out: dict[str, Any] = {
        "progressDeadlineSeconds": u.progress_deadline,
        "autoRollback": u.auto_rollback,
        "rollbackAfterFailures": u.rollback_after_failures,
    }
    if u.minimum_health_capacity is None and u.maximum_over_capacity is None:
        out.update(maxSurge=u.max_surge, maxUnavailable=u.max_unavailable)
    if u.minimum_health_capacity is not None:
        out["minimumHealthCapacity"] = u.minimum_health_capacity
    if u.maximum_over_capacity is not None:
        out["maximumOverCapacity"] = u.maximum_over_capacity
    return out


def surge_and_unavailable(
    upgrade: UpgradeStrategy, instances: int, resident: bool = False
) -> tuple[int, int]:
    """(max surge, max unavailable) as instance counts for ``instances`` instances.

    Marathon's minimumHealthCapacity ``m`` and maximumOverCapacity ``o`` map to
    ``unavailable = n - ceil(n*m)`` and ``surge = floor(n*o)``. Percentages round surge up
    and unavailable down, as Kubernetes does. When both come out 0 (e.g. n=1 with 0%),
    surge is 1, so an update can always make progress.
    """
    n = instances
    if upgrade.minimum_health_capacity is not None or upgrade.maximum_over_capacity is not None:
        m = 1.0 if upgrade.minimum_health_capacity is None else upgrade.minimum_health_capacity
        o = 1.0 if upgrade.maximum_over_capacity is None else upgrade.maximum_over_capacity
        surge, unavailable = math.floor(n * o + 1e-9), n - math.ceil(n * m - 1e-9)
    else:
        surge = _count(upgrade.max_surge, n, math.ceil)
        unavailable = _count(upgrade.max_unavailable, n, math.floor)
    if resident:
        surge, unavailable = 0, max(unavailable, 1)
    elif surge == 0 and unavailable == 0:
        surge = 1
    return surge, max(0, min(unavailable, n))


def _count(value: str, n: int, rounding: Callable[[float], int]) -> int:
    if value.endswith("%"):
        return int(rounding(n * float(value[:-1]) / 100 - 1e-9 * (rounding is math.ceil)))
    return int(value)


# ---------------------------------------------------------------- parsing


def load_data(text: str, source: str = "spec") -> object:
    """YAML or JSON text (JSON is YAML) as plain data; SpecError if it is neither."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(
            [f"{source}: not valid YAML or JSON: {' '.join(str(exc).split())}"]
        ) from exc


def load_spec_text(text: str, source: str = "spec") -> AppSpec:
    """Parse YAML or JSON text in the native format into a validated spec."""
    return parse_spec(load_data(text, source))


def parse_spec(data: object, *, stored: bool = False) -> AppSpec:
    """Validate ``data`` (a mapping as read from YAML/JSON); raise SpecError listing all
    problems, else return the spec. ``stored``: read back from the store, where checks
    added since it was written (port variables) are skipped, so an older app still loads."""
    r = _Reader()
    if not isinstance(data, Mapping):
        raise SpecError(["spec: must be a mapping with at least id and cmd"])
    known = {
        "id",
        "cmd",
        "instances",
        "cpus",
        "mem",
        "disk",
        "env",
        "ports",
        "constraints",
        "healthCheck",
        "readinessCheck",
        "backoff",
        "maxRestarts",
        "killGracePeriodSeconds",
        "killSelection",
        "unreachableStrategy",
        "upgradeStrategy",
        "circuitBreaker",
        "vip",
        "labels",
        "restartNonce",
        "fetch",
        "args",
        "user",
        "marathonEnv",
        "dependencies",
        "container",
        "containers",
        "persistentVolumes",
        "persistent_volumes",
    }
    r.unknown(data, known, "")
    pod = "containers" in data
    containers = _containers(r, data) if pod else ()
    app_id = r.string(data, "id", required=True).strip("/")
    if app_id and not APP_ID.match(app_id):
        r.problem("id", "must be lowercase letters, digits, '-' and '.', in '/'-separated parts")
    args = _args(r, data.get("args"))
    # In an image, its Entrypoint/Cmd run when neither cmd nor args is given.
    cmd = r.string(data, "cmd", required=not args and data.get("container") is None and not pod)
    if "cmd" in data and not cmd.strip():
        r.problem("cmd", "must not be empty")
    if cmd and args:
        r.problem("args", "give cmd (run by a shell) or args (exec'd), not both")
    ports, host_ports = _ports(r, data.get("ports", []))
    volumes = _persistent_volumes(r, data)
    if pod and volumes:
        r.problem(
            "persistentVolumes",
            "resident pods are not supported yet: give the volumes to a one-container app",
        )
    spec = AppSpec(
        id=app_id,
        cmd=cmd,
        instances=r.integer(data, "instances", 1, minimum=0),
        cpus=_total(c.cpus for c in containers)
        if pod
        else r.number(data, "cpus", 0.1, positive=True),
        mem=_total(c.mem for c in containers)
        if pod
        else r.number(data, "mem", 32.0, positive=True),
        disk=_total(c.disk for c in containers) if pod else r.number(data, "disk", 0.0),
        env=r.string_map(data, "env"),
        ports=ports,
        constraints=_constraints(r, data.get("constraints", [])),
        health_check=_health(r, data.get("healthCheck")),
        readiness_check=_readiness(r, data.get("readinessCheck")),
        backoff=_backoff(r, data.get("backoff", {})),
        max_restarts=r.integer(data, "maxRestarts", None, minimum=0),
        kill_grace_period=r.number(data, "killGracePeriodSeconds", 3.0),
        kill_selection=r.choice(data, "killSelection", "YOUNGEST_FIRST", KILL_SELECTION),
        unreachable=_unreachable(r, data.get("unreachableStrategy", {})),
        upgrade=_upgrade(r, data.get("upgradeStrategy", {}), resident=bool(volumes)),
        max_unhealthy_share=_breaker(r, data.get("circuitBreaker", {})),
        vip=_vip(r, data.get("vip")),
        labels=r.string_map(data, "labels"),
        restart_nonce=r.integer(data, "restartNonce", 0, minimum=0),
        fetch=_fetch(r, data.get("fetch")),
        args=args,
        user=r.string(data, "user"),
        host_ports=host_ports,
        marathon_env=r.boolean(data, "marathonEnv", False, ""),
        dependencies=_dependencies(r, app_id, data.get("dependencies")),
        container=_container(r, data.get("container")),
        containers=containers,
        persistent_volumes=volumes,
    )
    if spec.container and spec.container.entrypoint is not None and spec.cmd:
        r.problem(
            "container.entrypoint",
            "replaces the image's Entrypoint: give the arguments after it as args, not cmd",
        )
    checks = [("healthCheck.", spec.health_check)]
    checks += [(f"containers[{n}].healthCheck.", c.health_check) for n, c in enumerate(containers)]
    for path, check in checks:
        if check and check.protocol != "COMMAND" and check.port_index >= len(spec.ports):
            r.problem(path + "portIndex", f"there are only {len(spec.ports)} ports")
    if spec.readiness_check and spec.readiness_check.port_index >= len(spec.ports):
        r.problem("readinessCheck.portIndex", f"there are only {len(spec.ports)} ports")
    commands = [("args" if spec.args else "cmd", spec.cmd, spec.args, spec.env)]
    if pod:
        commands = [
            (f"containers[{n}].{'args' if c.args else 'cmd'}", c.cmd, c.args, {**spec.env, **c.env})
            for n, c in enumerate(containers)
        ]
    for path, text, argv, env in [] if stored else commands:
        for problem in port_references(" ".join((text, *argv)), spec.ports, env):
            r.problem(path, problem)
    if spec.vip is not None and not spec.ports:
        r.problem("vip", "needs at least one port (the VIP forwards to PORT0)")
    if r.problems:
        raise SpecError(r.problems)
    return spec


# $PORT0, ${PORT1}, $PORT, $PORTS, $PORT_HTTP: what the task environment says of ports.
PORT_REFERENCE = re.compile(r"\$(?:\{(PORT[A-Za-z0-9_]*)\}|(PORT[A-Za-z0-9_]*))")


def port_variable(name: str) -> str:
    """The variable a named port's number is in: ``PORT_`` and the name in capitals."""
    return "PORT_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())


def port_references(cmd: str, ports: tuple[str, ...], env: Mapping[str, str]) -> list[str]:
    """Port variables ``cmd`` uses that the app will not have (a variable of its own env
    is the user's): each would expand to nothing, and the command run without a port."""
    named = {port_variable(p) for p in ports}
    problems = []
    for match in PORT_REFERENCE.finditer(cmd):
        name = match.group(1) or match.group(2)
        index = name[4:]
        if name in env:
            continue
        if name in ("PORT", "PORTS") or index.isdigit():
            wanted = int(index) + 1 if index.isdigit() else 1
            if wanted > len(ports):
                n = len(ports)
                have = f"only {n} port(s), PORT0..PORT{n - 1}" if n else "no ports"
                problems.append(
                    f"refers to ${name} but the app has {have}: "
                    "list the ports it needs, e.g. ports: [http]"
                )
        elif name.startswith("PORT_") and name not in named:
            known = ", ".join(sorted(named)) or "none"
            problems.append(
                f"refers to ${name} but no port has that name (port variables: {known})"
            )
    return problems


class _Reader:
    """Reads typed fields, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def unknown(self, data: Mapping[str, Any], known: set[str], prefix: str) -> None:
        for key in data:
            if key not in known:
                self.problem(f"{prefix}{key}", f"unknown field (known: {', '.join(sorted(known))})")

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        default: str = "",
        *,
        required: bool = False,
        prefix: str = "",
    ) -> str:
        if key not in data:
            if required:
                self.problem(prefix + key, "is required")
            return default
        value = data[key]
        if not isinstance(value, str):
            self.problem(prefix + key, f"must be a string, not {type(value).__name__}")
            return default
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        default: float,
        *,
        positive: bool = False,
        prefix: str = "",
    ) -> float:
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(prefix + key, f"must be a number, not {value!r}")
            return default
        if value < 0 or (positive and value == 0):
            self.problem(prefix + key, f"must be {'> 0' if positive else '>= 0'}, not {value}")
            return default
        return float(value)

    def integer(
        self, data: Mapping[str, Any], key: str, default: Any, *, minimum: int = 0, prefix: str = ""
    ) -> Any:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(prefix + key, f"must be an integer, not {value!r}")
            return default
        if value < minimum:
            self.problem(prefix + key, f"must be >= {minimum}, not {value}")
            return default
        return value

    def boolean(self, data: Mapping[str, Any], key: str, default: bool, prefix: str) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(prefix + key, f"must be true or false, not {value!r}")
            return default
        return value

    def choice(
        self,
        data: Mapping[str, Any],
        key: str,
        default: str,
        choices: tuple[str, ...],
        prefix: str = "",
    ) -> str:
        value = self.string(data, key, default, prefix=prefix)
        normal = value.upper() if choices[0].isupper() else value.lower()
        if normal not in choices:
            self.problem(prefix + key, f"must be one of {', '.join(choices)}, not {value!r}")
            return default
        return normal

    def string_map(self, data: Mapping[str, Any], key: str, prefix: str = "") -> dict[str, str]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.problem(prefix + key, "must be a mapping of names to strings")
            return {}
        out = {}
        for k, v in value.items():
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                self.problem(f"{prefix}{key}.{k}", "must be a string")
            else:
                out[str(k)] = str(v)
        return out

    def section(self, value: object, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(path, "must be a mapping")
            return None
        return value


# Top-level fields a pod gives per container, and those its containers cannot use yet
# (the DEFAULT executor runs each container's command on the agent's host, as is).
PER_CONTAINER = ("cmd", "args", "cpus", "mem", "disk", "healthCheck")
NOT_IN_PODS = ("fetch", "user")
POD_HOOKS = ("main", "prestart", "poststart")
CONTAINER_FIELDS = {"name", "cmd", "args", "resources", "env", "healthCheck", "lifecycle", "image"}


def _containers(r: _Reader, data: Mapping[str, Any]) -> tuple[PodContainer, ...]:
    """``containers: [{name, cmd|args, resources: {cpus, mem, disk}, env, healthCheck,
    lifecycle: {hook, sidecar}}]``: a pod's containers (names unique, at least one main one)."""
    for key in PER_CONTAINER:
        if key in data:
            where = "resources" if key in ("cpus", "mem", "disk") else key
            r.problem(key, f"a pod gives this per container (containers[].{where})")
    for key in NOT_IN_PODS:
        if key in data:
            r.problem(key, "is not supported for pods yet: leave it out, or drop containers")
    if "container" in data:
        r.problem("container", "a pod gives each container its own image (containers[].image)")
    value = data["containers"]
    if not isinstance(value, list) or not value:
        r.problem(
            "containers",
            "must list at least one container, such as [{name: web, cmd: ..., "
            "resources: {cpus: 0.1, mem: 32}}]",
        )
        return ()
    out = []
    for n, item in enumerate(value):
        c = _pod_container(r, item, f"containers[{n}].")
        if c is not None:
            out.append(c)
    names = [c.name for c in out]
    twice = sorted({x for x in names if names.count(x) > 1})
    if twice:
        r.problem("containers", f"container names must differ: {', '.join(twice)} given twice")
    if out and not any(c.main for c in out):
        r.problem(
            "containers",
            "at least one container must be a main one (no lifecycle hook, not a sidecar)",
        )
    return tuple(out)


def _total(values: Iterable[float]) -> float:
    return round(sum(values), 6)  # 0.1 + 0.2 is 0.3, as a user adds it


def _pod_container(r: _Reader, item: object, p: str) -> PodContainer | None:
    data = r.section(item, p.rstrip("."))
    if data is None:
        return None
    r.unknown(data, CONTAINER_FIELDS, p)
    name = r.string(data, "name", required=True, prefix=p)
    if "name" in data and not re.fullmatch(_LABEL, name):
        r.problem(p + "name", f"must be lowercase letters, digits and '-', not {name!r}")
    image_value = data.get("image")
    if isinstance(image_value, str):
        image_value = {"image": image_value}
    image, image_problems = parse_container(image_value, p + "image", "forcePullImage")
    for where, reason in image_problems:
        r.problem(where, reason)
    args = _args(r, data.get("args"), p + "args")
    # In an image, the image's Entrypoint/Cmd run when no command is given.
    cmd = r.string(data, "cmd", required=not args and image_value is None, prefix=p)
    if "cmd" in data and not cmd.strip():
        r.problem(p + "cmd", "must not be empty")
    if cmd and args:
        r.problem(p + "args", "give cmd (run by a shell) or args (exec'd), not both")
    resources = data.get("resources")
    cpus, mem, disk = 0.1, 32.0, 0.0
    if resources is None:
        r.problem(p + "resources", "is required, such as {cpus: 0.1, mem: 32}")
    elif (res := r.section(resources, p + "resources")) is not None:
        q = p + "resources."
        r.unknown(res, {"cpus", "mem", "disk"}, q)
        for key in ("cpus", "mem"):
            if key not in res:
                r.problem(q + key, "is required")
        cpus = r.number(res, "cpus", cpus, positive=True, prefix=q)
        mem = r.number(res, "mem", mem, positive=True, prefix=q)
        disk = r.number(res, "disk", disk, prefix=q)
    sidecar, hook = False, "main"
    lifecycle = data.get("lifecycle")
    if lifecycle is not None and (life := r.section(lifecycle, p + "lifecycle")) is not None:
        r.unknown(life, {"sidecar", "hook"}, p + "lifecycle.")
        sidecar = r.boolean(life, "sidecar", False, p + "lifecycle.")
        hook = r.string(life, "hook", prefix=p + "lifecycle.") or "main"
        if hook not in POD_HOOKS:
            r.problem(
                p + "lifecycle.hook",
                f"must be one of {', '.join(POD_HOOKS)}, not {hook!r}",
            )
    return PodContainer(
        name=name,
        cmd=cmd,
        cpus=cpus,
        mem=mem,
        disk=disk,
        env=r.string_map(data, "env", prefix=p),
        args=args,
        health_check=_health(r, data.get("healthCheck"), p + "healthCheck."),
        sidecar=sidecar,
        hook=hook,
        image=image,
    )


def _fetch(r: _Reader, value: object) -> tuple[Artifact, ...]:
    """``fetch: [URI, {uri, executable, extract, cache, output_file, checksum}]``."""
    artifacts, problems = parse_fetch(value)
    for path, message in problems:
        r.problem(path, message)
    return artifacts


def _container(r: _Reader, value: object) -> ContainerSpec | None:
    """``container: {image: NAME, forcePullImage: false}``."""
    container, problems = parse_container(value, force_key="forcePullImage")
    for path, message in problems:
        r.problem(path, message)
    return container


def resolve_app_id(app_id: str, ref: str) -> str:
    """An app id named from ``app_id``'s: ``/prod/db`` as is, ``db`` or ``../db`` beside it."""
    if ref.startswith("/"):
        return posixpath.normpath(ref).strip("/")
    group = posixpath.dirname("/" + app_id.strip("/"))
    return posixpath.normpath(posixpath.join(group, ref)).strip("/")


def _dependencies(r: _Reader, app_id: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(d, str) and d for d in value):
        r.problem("dependencies", "must be a list of app ids, such as ['/prod/db']")
        return ()
    out = []
    for i, ref in enumerate(value):
        dep = resolve_app_id(app_id, ref)
        if not APP_ID.match(dep):
            r.problem(f"dependencies[{i}]", f"{ref!r} is not an app id")
        elif dep not in out:
            out.append(dep)
    return tuple(out)


def _args(r: _Reader, value: object, path: str = "args") -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        r.problem(path, "must be a non-empty list of strings (an argv)")
        return ()
    return tuple(value)


def _ports(r: _Reader, value: object) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Port names and their fixed host ports (0: any; all any: ``()``)."""
    if not isinstance(value, list):
        r.problem("ports", "must be a list such as [{name: http}]")
        return (), ()
    names: list[str] = []
    numbers: list[int] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            names.append(item)
            numbers.append(0)
        elif isinstance(item, Mapping) and isinstance(item.get("name", ""), str):
            p = f"ports[{i}]."
            r.unknown(item, {"name", "hostPort"}, p)
            names.append(str(item.get("name", "")) or f"port{i}")
            number = r.integer(item, "hostPort", 0, prefix=p)
            if number > 65535:
                r.problem(p + "hostPort", f"must be 1-65535 (0: any), not {number}")
            elif number and number in numbers:
                r.problem(p + "hostPort", f"port {number} is given twice")
            numbers.append(number)
        else:
            r.problem(f"ports[{i}]", "must be a name or {name: NAME, hostPort: N}")
    if len(set(names)) < len(names):
        r.problem("ports", f"port names must differ: {', '.join(names)}")
    return tuple(names), tuple(numbers) if any(numbers) else ()


def _constraints(r: _Reader, value: object) -> tuple[Constraint, ...]:
    if not isinstance(value, list):
        r.problem("constraints", 'must be a list such as [["hostname", "UNIQUE"]]')
        return ()
    out = []
    for i, item in enumerate(value):
        path = f"constraints[{i}]"
        if not isinstance(item, list) or not 2 <= len(item) <= 3:
            r.problem(path, "must be [field, operator] or [field, operator, value]")
            continue
        if not all(isinstance(x, str | int) and not isinstance(x, bool) for x in item):
            r.problem(path, "field, operator and value must be strings")
            continue
        fld, op, val = str(item[0]), str(item[1]).upper(), str(item[2]) if len(item) == 3 else ""
        if op not in OPERATORS:
            r.problem(f"{path}[1]", f"must be one of {', '.join(OPERATORS)}, not {item[1]!r}")
            continue
        if fld.startswith("@") and fld not in SPECIAL_FIELDS:
            r.problem(
                f"{path}[0]",
                f"{fld!r} is not a field: use {', '.join(SPECIAL_FIELDS)} or an agent attribute",
            )
            continue
        if op in ("LIKE", "UNLIKE", "MAX_PER", "IS") and not val:
            r.problem(path, f"{op} needs a value")
            continue
        if op in ("LIKE", "UNLIKE"):
            try:
                re.compile(val)
            except re.error as exc:
                r.problem(f"{path}[2]", f"not a regular expression: {exc}")
                continue
        if op in ("MAX_PER", "GROUP_BY") and val and not (val.isdigit() and int(val) > 0):
            r.problem(f"{path}[2]", f"{op} needs a positive integer, not {val!r}")
            continue
        out.append(Constraint(fld, op, val))
    return tuple(out)


def _health(r: _Reader, value: object, p: str = "healthCheck.") -> HealthCheckSpec | None:
    if value is None:
        return None
    data = r.section(value, p.rstrip("."))
    if data is None:
        return None
    known = {
        "protocol",
        "path",
        "portIndex",
        "command",
        "gracePeriodSeconds",
        "intervalSeconds",
        "timeoutSeconds",
        "maxConsecutiveFailures",
        "delaySeconds",
    }
    r.unknown(data, known, p)
    d = HealthCheckSpec()
    check = HealthCheckSpec(
        protocol=r.choice(data, "protocol", d.protocol, PROTOCOLS, p),
        path=r.string(data, "path", d.path, prefix=p),
        port_index=r.integer(data, "portIndex", 0, prefix=p),
        command=r.string(data, "command", "", prefix=p),
        grace_period=r.number(data, "gracePeriodSeconds", d.grace_period, prefix=p),
        interval=r.number(data, "intervalSeconds", d.interval, positive=True, prefix=p),
        timeout=r.number(data, "timeoutSeconds", d.timeout, positive=True, prefix=p),
        max_failures=r.integer(data, "maxConsecutiveFailures", d.max_failures, minimum=0, prefix=p),
        delay=r.number(data, "delaySeconds", d.delay, prefix=p),
    )
    if check.protocol == "COMMAND" and not check.command.strip():
        r.problem(p + "command", "a COMMAND health check needs a command")
    return check


def _readiness(r: _Reader, value: object) -> ReadinessCheckSpec | None:
    if value is None:
        return None
    data = r.section(value, "readinessCheck")
    if data is None:
        return None
    p = "readinessCheck."
    r.unknown(data, {"path", "portIndex", "intervalSeconds", "timeoutSeconds"}, p)
    d = ReadinessCheckSpec()
    return ReadinessCheckSpec(
        path=r.string(data, "path", d.path, prefix=p),
        port_index=r.integer(data, "portIndex", 0, prefix=p),
        interval=r.number(data, "intervalSeconds", d.interval, positive=True, prefix=p),
        timeout=r.number(data, "timeoutSeconds", d.timeout, positive=True, prefix=p),
    )


def _backoff(r: _Reader, value: object) -> BackoffSpec:
    data = r.section(value, "backoff")
    if data is None:
        return BackoffSpec()
    p = "backoff."
    r.unknown(data, {"seconds", "factor", "maxDelaySeconds"}, p)
    d = BackoffSpec()
    spec = BackoffSpec(
        seconds=r.number(data, "seconds", d.seconds, prefix=p),
        factor=r.number(data, "factor", d.factor, prefix=p),
        max_delay=r.number(data, "maxDelaySeconds", d.max_delay, prefix=p),
    )
    if spec.factor < 1:
        r.problem(p + "factor", f"must be >= 1, not {spec.factor}")
    return spec


def _unreachable(r: _Reader, value: object) -> UnreachableStrategy:
    data = r.section(value, "unreachableStrategy")
    if data is None:
        return UnreachableStrategy()
    p = "unreachableStrategy."
    r.unknown(data, {"inactiveAfterSeconds", "expungeAfterSeconds"}, p)
    d = UnreachableStrategy()
    spec = UnreachableStrategy(
        inactive_after=r.number(data, "inactiveAfterSeconds", d.inactive_after, prefix=p),
        expunge_after=r.number(data, "expungeAfterSeconds", d.expunge_after, prefix=p),
    )
    if spec.expunge_after < spec.inactive_after:
        r.problem(p + "expungeAfterSeconds", "must be >= inactiveAfterSeconds")
    return spec


def _count_text(r: _Reader, data: Mapping[str, Any], key: str, default: str, p: str) -> str:
    value = data.get(key, default)
    text = str(value)
    ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, str) and re.fullmatch(r"\d+%?", value) is not None
    )
    if not ok or (text.endswith("%") and int(text[:-1]) > 100):
        r.problem(p + key, f"must be a count >= 0 or a percentage such as '25%', not {value!r}")
        return default
    return text


def _upgrade(r: _Reader, value: object, resident: bool = False) -> UpgradeStrategy:
    data = r.section(value, "upgradeStrategy")
    if data is None:
        return RESIDENT_UPGRADE if resident else UpgradeStrategy()
    p = "upgradeStrategy."
    known = {
        "maxSurge",
        "maxUnavailable",
        "minimumHealthCapacity",
        "maximumOverCapacity",
        "progressDeadlineSeconds",
        "autoRollback",
        "rollbackAfterFailures",
    }
    r.unknown(data, known, p)
    d = UpgradeStrategy()
    marathon = {
        k: r.number(data, k, 0.0, prefix=p)
        for k in ("minimumHealthCapacity", "maximumOverCapacity")
        if k in data
    }
    for key, v in marathon.items():
        if v > 1:
            r.problem(p + key, f"must be between 0 and 1, not {v}")
    if marathon and ("maxSurge" in data or "maxUnavailable" in data):
        r.problem(
            p + "maxSurge",
            "give maxSurge/maxUnavailable or Marathon's "
            "minimumHealthCapacity/maximumOverCapacity, not both",
        )
    spec = UpgradeStrategy(
        max_surge=_count_text(r, data, "maxSurge", d.max_surge, p),
        max_unavailable=_count_text(r, data, "maxUnavailable", d.max_unavailable, p),
        minimum_health_capacity=marathon.get("minimumHealthCapacity"),
        maximum_over_capacity=marathon.get("maximumOverCapacity"),
        progress_deadline=r.number(
            data, "progressDeadlineSeconds", d.progress_deadline, positive=True, prefix=p
        ),
        auto_rollback=r.boolean(data, "autoRollback", d.auto_rollback, p),
        rollback_after_failures=r.integer(
            data, "rollbackAfterFailures", d.rollback_after_failures, minimum=1, prefix=p
        ),
    )
    if resident:
        spec = _resident_upgrade(r, data, spec, p)
    return spec


# A resident instance is replaced where its reservation is: stop it, then start the new one.
RESIDENT_UPGRADE = UpgradeStrategy(max_surge="0", max_unavailable="1")


def _resident_upgrade(
    r: _Reader, data: Mapping[str, Any], spec: UpgradeStrategy, p: str
) -> UpgradeStrategy:
    over = spec.maximum_over_capacity
    if over or ("maxSurge" in data and spec.max_surge not in ("0", "0%")):
        key = "maximumOverCapacity" if over else "maxSurge"
        r.problem(
            p + key,
            "must be 0 for an app with persistentVolumes: its instances run where their "
            "reservations are, never more of them at once",
        )
    if "maxSurge" not in data and spec.minimum_health_capacity is None:
        spec = replace(spec, max_surge="0")
    if spec.minimum_health_capacity is not None and over is None:
        spec = replace(spec, maximum_over_capacity=0.0)
    return spec


def _persistent_volumes(r: _Reader, data: Mapping[str, Any]) -> tuple[PersistentVolumeSpec, ...]:
    """``persistentVolumes: [{containerPath: data, size: 64}]`` (also spelled
    ``persistent_volumes`` and ``container_path``)."""
    key = "persistent_volumes" if "persistent_volumes" in data else "persistentVolumes"
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        r.problem(key, "must be a non-empty list such as [{containerPath: data, size: 64}]")
        return ()
    out: list[PersistentVolumeSpec] = []
    for index, item in enumerate(value):
        p = f"{key}[{index}]."
        if not isinstance(item, Mapping):
            r.problem(key + f"[{index}]", "must be a mapping {containerPath: PATH, size: MB}")
            continue
        r.unknown(item, {"containerPath", "container_path", "size"}, p)
        path_key = "container_path" if "container_path" in item else "containerPath"
        path = r.string(item, path_key, required=True, prefix=p)
        size = r.number(item, "size", 0.0, positive=True, prefix=p)
        if "size" not in item:
            r.problem(p + "size", "is required (MB of disk)")
        parts = path.split("/")
        if path and (path.startswith("/") or any(part in ("", ".", "..") for part in parts)):
            r.problem(
                p + path_key,
                f"{path!r} must be a relative path inside the sandbox, such as data",
            )
        elif path in {v.container_path for v in out}:
            r.problem(p + path_key, f"{path!r} is given twice")
        elif path:
            out.append(PersistentVolumeSpec(path, size))
    return tuple(out)


def _breaker(r: _Reader, value: object) -> float:
    data = r.section(value, "circuitBreaker")
    if data is None:
        return 0.5
    r.unknown(data, {"maxUnhealthyShare"}, "circuitBreaker.")
    share = r.number(data, "maxUnhealthyShare", 0.5, prefix="circuitBreaker.")
    if share > 1:
        r.problem("circuitBreaker.maxUnhealthyShare", f"must be between 0 and 1, not {share}")
    return share


def _vip(r: _Reader, value: object) -> VipSpec | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        host, _, port = str(value).rpartition(":")
        value = {"host": host or "127.0.0.1", "port": int(port) if port.isdigit() else port}
    data = r.section(value, "vip")
    if data is None:
        return None
    r.unknown(data, {"host", "port", "balance"}, "vip.")
    vip = VipSpec(
        host=r.string(data, "host", "127.0.0.1", prefix="vip."),
        port=r.integer(data, "port", 0, minimum=1, prefix="vip."),
        balance=r.choice(data, "balance", "round-robin", BALANCE, "vip."),
    )
    if "port" not in data:
        r.problem("vip.port", "is required")
    elif vip.port > 65535:
        r.problem("vip.port", f"must be 1-65535, not {vip.port}")
    return vip
