"""Marathon's app definition (its JSON, or YAML of the same shape) read onto ``AppSpec``.

A thin adapter: ``convert`` maps each Marathon field onto the native spec's form (a plain
mapping that ``parse_spec`` then validates like any native file), with Marathon's defaults
(1 cpu, 128 MB, one port), and notes every field it changed and every field that has no
effect here. A field that cannot apply is refused, saying why and what to use instead.
``load_app_text`` reads either format, telling them apart by shape (``is_marathon``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frameworks.service.spec import AppSpec, SpecError, load_data, parse_spec

# Keys only Marathon's format has: one of them (or an id with '/', or integer ports)
# makes a definition Marathon's.
MARATHON_ONLY = frozenset(
    {
        "healthChecks",
        "readinessChecks",
        "portDefinitions",
        "requirePorts",
        "backoffSeconds",
        "backoffFactor",
        "maxLaunchDelaySeconds",
        "taskKillGracePeriodSeconds",
        "acceptedResourceRoles",
        "uris",
        "networks",
        "role",
        "executor",
        "residency",
        "secrets",
        "gpus",
        "ipAddress",
        "storeUrls",
        "tty",
        "executorResources",
        "version",
        "versionInfo",
    }
)
# Fields of a definition as Marathon answers it (GET /v2/apps/...): state, not a wish.
READ_ONLY = (
    "version",
    "versionInfo",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "tasksUnhealthy",
    "tasks",
    "deployments",
    "lastTaskFailure",
    "taskStats",
    "readinessCheckResults",
    "executorResources",
)
# Marathon's names kept as they are in the native spec.
SAME = ("cmd", "args", "user", "instances", "labels", "killSelection", "fetch")
DEFAULTS = {"cpus": 1.0, "mem": 128.0, "disk": 0.0}
HEALTH_DEFAULTS = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
}
PROTOCOLS = {
    "HTTP": "HTTP",
    "HTTPS": "HTTPS",
    "TCP": "TCP",
    "COMMAND": "COMMAND",
    "MESOS_HTTP": "HTTP",
    "MESOS_HTTPS": "HTTPS",
    "MESOS_TCP": "TCP",
}
NEVER = 10 * 365 * 24 * 3600  # unreachableStrategy "disabled": never replaced
NO_CREDENTIALS = (
    "registry credentials are not supported yet: use an image the agents can pull without them"
)
HOST_NETWORK = "tasks use the agent's network (host): remove it and use portDefinitions"


@dataclass(frozen=True)
class Conversion:
    """A spec read from a file: whether it was Marathon's, what changed, what was ignored."""

    spec: AppSpec
    marathon: bool = False
    changed: tuple[str, ...] = ()  # "field: what became of it"
    ignored: tuple[str, ...] = ()  # fields accepted that have no effect here

    def warning(self) -> str | None:
        """The one warning listing the fields with no effect, if any."""
        if not self.ignored:
            return None
        return f"warning: fields with no effect here (accepted): {', '.join(self.ignored)}"


def is_marathon(data: Mapping[str, Any]) -> bool:
    """Whether a definition is in Marathon's shape rather than the native one."""
    if "marathonEnv" in data:
        return False  # a native spec (one converted from Marathon's says so)
    if any(key in data for key in MARATHON_ONLY):
        return True
    container = data.get("container")
    if isinstance(container, Mapping) and "image" not in container:
        return True  # Marathon's {type, docker: {image}}; the native one names its image
    if str(data.get("id", "")).startswith("/"):
        return True
    ports = data.get("ports")
    return isinstance(ports, list) and any(
        isinstance(p, int) and not isinstance(p, bool) for p in ports
    )


def load_app_text(text: str, source: str = "spec") -> Conversion:
    """A native or Marathon app file (YAML or JSON), validated; SpecError lists problems."""
    data = load_data(text, source)
    if isinstance(data, Mapping) and is_marathon(data):
        return convert(data)
    return Conversion(parse_spec(data))


def convert(data: Mapping[str, Any]) -> Conversion:
    """A Marathon app definition as a native spec (SpecError names each refused field)."""
    c = _Converter(data)
    native = c.run()
    problems = list(c.problems)
    try:
        spec = parse_spec(native)
    except SpecError as exc:
        problems += [c.marathon_path(p) for p in exc.problems]
    if problems:
        raise SpecError(problems)
    return Conversion(spec, True, tuple(c.changed), tuple(c.ignored))


class _Converter:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.out: dict[str, Any] = {"marathonEnv": True}
        self.problems: list[str] = []
        self.changed: list[str] = []
        self.ignored: list[str] = []

    def refuse(self, path: str, why: str) -> None:
        self.problems.append(f"{path}: {why}")

    def run(self) -> dict[str, Any]:
        d, out = self.data, self.out
        handled = {"id", "env", "constraints", "upgradeStrategy", "unreachableStrategy"}
        handled |= {*SAME, *DEFAULTS, *READ_ONLY}
        if "id" in d:
            out["id"] = str(d["id"]).lstrip("/") if isinstance(d["id"], str) else d["id"]
        for key in SAME:
            if key in d:
                out[key] = d[key]
        for key, default in DEFAULTS.items():
            out[key] = d.get(key, default)
        self.ignored += [key for key in READ_ONLY if key in d]
        if "constraints" in d:
            out["constraints"] = d["constraints"]
        self._env()
        self._fetch(d)
        self._ports(d)
        self._health_checks(d.get("healthChecks"))
        self._readiness_checks(d.get("readinessChecks"))
        self._backoff(d)
        self._strategies(d)
        self._placement_fields(d)
        self._refused_fields(d)
        handled |= _HANDLED
        for key in d:
            if key not in handled:
                self.refuse(
                    key,
                    "not a field of Marathon's app definition (a file in Marathon's shape "
                    "cannot mix in native fields: use one format throughout)",
                )
        return out

    def _env(self) -> None:
        env = self.data.get("env")
        if env is None:
            return
        if not isinstance(env, Mapping):
            self.out["env"] = env  # the native check names the problem
            return
        plain = {}
        for name, value in env.items():
            if isinstance(value, Mapping) and "secret" in value:
                self.refuse(
                    f"env.{name}",
                    "secrets are not supported yet: give the value in env, or fetch a file "
                    "holding it",
                )
            else:
                plain[name] = value
        self.out["env"] = plain

    def _fetch(self, d: Mapping[str, Any]) -> None:
        if "uris" in d and "fetch" in d:
            self.refuse("uris", "give fetch or uris (its old form), not both")
            return
        if "uris" in d:
            self.out["fetch"] = d["uris"]
            self.changed.append("uris: as fetch (each URI fetched, archives extracted)")
        fetch = self.out.get("fetch")
        if isinstance(fetch, list):
            self.out["fetch"] = [
                {("output_file" if k == "destPath" else k): v for k, v in item.items()}
                if isinstance(item, Mapping)
                else item
                for item in fetch
            ]

    def _ports(self, d: Mapping[str, Any]) -> None:
        if "portDefinitions" in d and "ports" in d:
            self.refuse("ports", "give portDefinitions or ports (its old form), not both")
            return
        if "portDefinitions" in d:
            definitions = d["portDefinitions"]
            where = "portDefinitions"
        elif "ports" in d:
            raw = d["ports"]
            definitions = [{"port": p} for p in raw] if isinstance(raw, list) else raw
            where = "ports"
        else:
            definitions = [{"port": 0}]
            where = "portDefinitions"
            self.changed.append("portDefinitions: not given: one port (Marathon's default)")
        if not isinstance(definitions, list):
            self.refuse(where, "must be a list of port definitions")
            return
        require = d.get("requirePorts", False)
        if not isinstance(require, bool):
            self.refuse("requirePorts", f"must be true or false, not {require!r}")
            require = False
        ports = []
        for i, item in enumerate(definitions):
            path = f"{where}[{i}]"
            if not isinstance(item, Mapping):
                self.refuse(path, "must be a port number or {port, name, protocol, labels}")
                continue
            number = item.get("port", 0)
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                self.refuse(f"{path}.port", f"must be a port number (0: any), not {number!r}")
                continue
            entry: dict[str, Any] = {"name": item.get("name", "") or f"port{i}"}
            if require and number:
                entry["hostPort"] = number
            elif number:
                self.changed.append(
                    f"{path}.port {number}: Marathon's service port (for a load balancer); "
                    "the instance gets a port from the offer (requirePorts: true uses it; "
                    "a native vip gives a stable address)"
                )
            for extra in ("protocol", "labels"):
                if extra in item and item[extra] not in ("tcp", {}):
                    self.ignored.append(f"{path}.{extra}")
            for key in item:
                if key not in ("port", "name", "protocol", "labels"):
                    self.refuse(f"{path}.{key}", "not a field of a port definition")
            ports.append(entry)
        self.out["ports"] = ports

    def _health_checks(self, checks: object) -> None:
        if checks is None or checks == []:
            return
        if not isinstance(checks, list):
            self.refuse("healthChecks", "must be a list of health checks")
            return
        if len(checks) > 1:
            self.refuse(
                "healthChecks",
                f"{len(checks)} checks given; one per app here (the agent runs one check per "
                "instance): keep the one that should decide",
            )
            return
        check = checks[0]
        if not isinstance(check, Mapping):
            self.refuse("healthChecks[0]", "must be a mapping")
            return
        p = "healthChecks[0]."
        protocol = str(check.get("protocol", "HTTP")).upper()
        if protocol not in PROTOCOLS:
            self.refuse(p + "protocol", f"must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
            return
        if protocol in ("HTTP", "HTTPS", "TCP"):
            self.changed.append(
                f"{p}protocol {protocol}: run by each instance's agent (as MESOS_{protocol})"
            )
        native: dict[str, Any] = {"protocol": PROTOCOLS[protocol]}
        for key, default in HEALTH_DEFAULTS.items():
            native[key] = check.get(key, default)
        if "path" in check:
            native["path"] = check["path"]
        if "portIndex" in check:
            native["portIndex"] = check["portIndex"]
        if "port" in check:
            self._health_port(check["port"], native, p)
        if protocol == "COMMAND":
            command = check.get("command")
            value = command.get("value") if isinstance(command, Mapping) else command
            native["command"] = value if isinstance(value, str) else ""
        for key in ("ignoreHttp1xx", "ipProtocol"):
            if key in check:
                self.ignored.append(p + key)
        known = {*HEALTH_DEFAULTS, "protocol", "path", "portIndex", "port", "command"}
        for key in check:
            if key not in known | {"ignoreHttp1xx", "ipProtocol"}:
                self.refuse(p + key, "not a field of a Marathon health check")
        self.out["healthCheck"] = native

    def _health_port(self, port: object, native: dict[str, Any], p: str) -> None:
        fixed = [entry.get("hostPort", 0) for entry in self.out.get("ports", [])]
        if isinstance(port, int) and port in fixed and port:
            native["portIndex"] = fixed.index(port)
        else:
            self.refuse(
                p + "port",
                "a check on a fixed port needs that port among the app's ports with "
                "requirePorts: true; else use portIndex",
            )

    def _readiness_checks(self, checks: object) -> None:
        if checks is None or checks == []:
            return
        if not isinstance(checks, list) or len(checks) > 1:
            self.refuse(
                "readinessChecks",
                "a list of one check here (the framework probes one per instance): keep "
                "the one that decides when an instance takes traffic",
            )
            return
        check = checks[0]
        if not isinstance(check, Mapping):
            self.refuse("readinessChecks[0]", "must be a mapping")
            return
        p = "readinessChecks[0]."
        if str(check.get("protocol", "HTTP")).upper() != "HTTP":
            self.refuse(p + "protocol", "only HTTP readiness checks are run here")
        names = [entry["name"] for entry in self.out.get("ports", [])]
        name = check.get("portName", "http-api")
        if name not in names:
            self.refuse(p + "portName", f"no port named {name!r} (ports: {', '.join(names)})")
            return
        codes = check.get("httpStatusCodesForReady", [200])
        if not isinstance(codes, list) or not all(
            isinstance(x, int) and 200 <= x < 300 for x in codes
        ):
            self.refuse(p + "httpStatusCodesForReady", "only 2xx answers count as ready here")
        elif codes != list(range(200, 300)):
            self.changed.append(f"{p}httpStatusCodesForReady: any 2xx answer counts as ready")
        self.out["readinessCheck"] = {
            "path": check.get("path", "/"),
            "portIndex": names.index(name),
            "intervalSeconds": check.get("intervalSeconds", 30),
            "timeoutSeconds": check.get("timeoutSeconds", 10),
        }
        for key in ("name", "preserveLastResponse"):
            if key in check:
                self.ignored.append(p + key)
        known = {"name", "protocol", "path", "portName", "intervalSeconds", "timeoutSeconds"}
        for key in check:
            if key not in known | {"httpStatusCodesForReady", "preserveLastResponse"}:
                self.refuse(p + key, "not a field of a Marathon readiness check")

    def _backoff(self, d: Mapping[str, Any]) -> None:
        backoff = {
            native: d[key]
            for key, native in (
                ("backoffSeconds", "seconds"),
                ("backoffFactor", "factor"),
                ("maxLaunchDelaySeconds", "maxDelaySeconds"),
            )
            if key in d
        }
        if backoff:
            self.out["backoff"] = backoff
        if "taskKillGracePeriodSeconds" in d:
            self.out["killGracePeriodSeconds"] = d["taskKillGracePeriodSeconds"]

    def _strategies(self, d: Mapping[str, Any]) -> None:
        upgrade = d.get("upgradeStrategy", {})
        if isinstance(upgrade, Mapping):
            # Marathon's defaults: all old instances kept until new ones are healthy; a
            # resident app's (persistent volumes) replaces in place, half at a time.
            container = d.get("container")
            volumes = container.get("volumes") if isinstance(container, Mapping) else None
            resident = isinstance(volumes, list) and any(
                isinstance(v, Mapping) and v.get("persistent") for v in volumes
            )
            self.out["upgradeStrategy"] = {
                "minimumHealthCapacity": 0.5 if resident else 1,
                "maximumOverCapacity": 0 if resident else 1,
                **upgrade,
            }
        else:
            self.out["upgradeStrategy"] = upgrade
        self.changed.append(
            "upgradeStrategy: a deployment without progress for 600 s rolls back to the "
            "last healthy version (Marathon's waits)"
        )
        unreachable = d.get("unreachableStrategy")
        if unreachable == "disabled":
            self.out["unreachableStrategy"] = {
                "inactiveAfterSeconds": NEVER,
                "expungeAfterSeconds": NEVER,
            }
            self.changed.append("unreachableStrategy disabled: replaced after 10 years")
        elif unreachable is not None:
            self.out["unreachableStrategy"] = unreachable

    def _placement_fields(self, d: Mapping[str, Any]) -> None:
        role = d.get("role", "*")
        if role != "*":
            self.refuse(
                "role",
                f"apps run under the service framework's role; a role per app ({role!r}) is "
                "not supported: remove role",
            )
        elif "role" in d:
            self.ignored.append("role")
        roles = d.get("acceptedResourceRoles")
        if roles is not None:
            if isinstance(roles, list) and "*" in roles:
                self.ignored.append("acceptedResourceRoles")
            else:
                self.refuse(
                    "acceptedResourceRoles",
                    "every resource here is unreserved (role *), so only ['*'] can match: "
                    "to pick agents, use a constraint on an agent attribute",
                )
        for i, network in enumerate(d.get("networks") or []):
            mode = network.get("mode", "host") if isinstance(network, Mapping) else network
            if mode != "host":
                self.refuse(
                    f"networks[{i}].mode",
                    f"instances run on the agent's network (host), not {mode!r}: remove "
                    "networks and use portDefinitions",
                )
        if d.get("networks"):
            self.ignored.append("networks")

    def _container(self, container: object) -> None:
        """``container``: its image (``docker.image``, for either type) as the native
        ``container``; what Docker alone could do is refused, each saying why."""
        if container is None:
            return
        if not isinstance(container, Mapping):
            self.refuse("container", "must be an object, such as {docker: {image: ...}}")
            return
        known = ("type", "docker", "appc", "volumes", "portMappings")
        for key in container:
            if key not in known:
                self.refuse(f"container.{key}", f"unknown field; known: {', '.join(known)}")
        kind = str(container.get("type", "MESOS")).upper()
        if kind not in ("MESOS", "DOCKER"):
            self.refuse("container.type", f"must be MESOS or DOCKER, not {kind!r}")
        if container.get("appc"):
            self.refuse("container.appc", "only Docker images run here: use docker.image")
        self._volumes(container.get("volumes"))
        if container.get("portMappings"):
            self.refuse("container.portMappings", HOST_NETWORK)
        docker = container.get("docker")
        if not docker:
            if kind == "DOCKER":
                self.refuse("container.docker", "is required with type DOCKER: its image")
            elif not container.get("volumes"):
                self.ignored.append("container")
            return
        if not isinstance(docker, Mapping):
            self.refuse("container.docker", "must be an object with image")
            return
        self._docker(docker, kind)

    def _volumes(self, volumes: object) -> None:
        """``container.volumes``: local persistent volumes (``persistent.size``) as the
        native ``persistentVolumes``; other kinds of volume are refused."""
        if not volumes:
            return
        if not isinstance(volumes, list):
            self.refuse("container.volumes", "must be a list of volumes")
            return
        native = []
        for index, v in enumerate(volumes):
            where = f"container.volumes[{index}]"
            persistent = v.get("persistent") if isinstance(v, Mapping) else None
            if not isinstance(v, Mapping) or not isinstance(persistent, Mapping):
                self.refuse(
                    where,
                    "only local persistent volumes ({containerPath, mode: RW, persistent: "
                    "{size}}) are supported: keep other state outside the instance",
                )
                continue
            if str(v.get("mode", "RW")).upper() != "RW":
                self.refuse(f"{where}.mode", "a persistent volume is read-write here: mode RW")
            if str(persistent.get("type", "root")).lower() != "root":
                self.refuse(
                    f"{where}.persistent.type",
                    "only root volumes (a directory of the agent's disk) are supported",
                )
            native.append({"containerPath": v.get("containerPath"), "size": persistent.get("size")})
        self.out["persistentVolumes"] = native

    def _docker(self, docker: Mapping[str, Any], kind: str) -> None:
        where = "container.docker"
        known: tuple[str, ...] = ("image", "forcePullImage", "network", "portMappings")
        known += ("privileged", "parameters", "credential", "pullConfig")
        for key in docker:
            if key not in known:
                self.refuse(f"{where}.{key}", f"unknown field; known: {', '.join(known)}")
        network = docker.get("network")
        if network is not None and str(network).upper() != "HOST":
            self.refuse(f"{where}.network", f"not {network!r}: {HOST_NETWORK}")
        if docker.get("portMappings"):
            self.refuse(f"{where}.portMappings", HOST_NETWORK)
        if docker.get("privileged"):
            self.refuse(
                f"{where}.privileged",
                "privileged containers are not supported: instances run in their own mount "
                "and PID namespaces only; remove privileged",
            )
        if docker.get("parameters"):
            self.refuse(
                f"{where}.parameters",
                "docker run parameters have no equivalent (no Docker daemon runs the "
                "instance): remove them",
            )
        for key in ("credential", "pullConfig"):
            if docker.get(key):
                self.refuse(f"{where}.{key}", NO_CREDENTIALS)
        native: dict[str, Any] = {"image": docker.get("image")}
        if "forcePullImage" in docker:
            native["forcePullImage"] = docker["forcePullImage"]
        self.out["container"] = native
        if kind == "DOCKER":
            self.changed.append(
                "container.type DOCKER: runs from the same image in mesospy's own "
                "containerizer (no Docker daemon)"
            )

    def _refused_fields(self, d: Mapping[str, Any]) -> None:
        self._container(d.get("container"))
        if d.get("dependencies"):
            self.out["dependencies"] = d["dependencies"]  # resolved and checked natively
        elif "dependencies" in d:
            self.ignored.append("dependencies")
        if d.get("residency") is not None:
            if not self.out.get("persistentVolumes"):
                self.refuse(
                    "residency",
                    "needs local persistent volumes: container.volumes with persistent.size",
                )
            else:
                self.changed.append(
                    "residency: each instance waits for its own reservation and volumes "
                    "(relaunchEscalationTimeoutSeconds and taskLostBehavior have no effect)"
                )
        if d.get("secrets"):
            self.refuse("secrets", "secrets are not supported yet: give values in env")
        elif "secrets" in d:
            self.ignored.append("secrets")
        gpus = d.get("gpus", 0)
        if gpus:
            self.refuse("gpus", "the service framework does not place GPU tasks: remove gpus")
        elif "gpus" in d:
            self.ignored.append("gpus")
        executor = d.get("executor", "")
        if executor not in ("", "//cmd"):
            self.refuse("executor", "custom executors are not supported: the agent runs cmd")
        elif "executor" in d:
            self.ignored.append("executor")
        if d.get("ipAddress") is not None:
            self.refuse("ipAddress", "no IP per task here: remove ipAddress, use portDefinitions")
        if d.get("tty"):
            self.refuse("tty", "tasks run without a terminal: remove tty")
        elif "tty" in d:
            self.ignored.append("tty")
        if d.get("storeUrls"):
            self.refuse("storeUrls", "not supported (deprecated in Marathon): use fetch")
        elif "storeUrls" in d:
            self.ignored.append("storeUrls")

    def marathon_path(self, problem: str) -> str:
        """A native problem's path in the Marathon definition's terms."""
        for native, marathon in _PATHS:
            if problem.startswith(native):
                return marathon + problem[len(native) :]
        return problem


# Native paths and the Marathon fields they came from.
_PATHS = (
    ("killGracePeriodSeconds", "taskKillGracePeriodSeconds"),
    ("backoff.seconds", "backoffSeconds"),
    ("backoff.factor", "backoffFactor"),
    ("backoff.maxDelaySeconds", "maxLaunchDelaySeconds"),
    ("healthCheck.", "healthChecks[0]."),
    ("readinessCheck.", "readinessChecks[0]."),
    ("ports[", "portDefinitions["),
    ("container.forcePullImage", "container.docker.forcePullImage"),
    ("container.image", "container.docker.image"),
)
_HANDLED = frozenset(MARATHON_ONLY | {"ports", "dependencies", "container"})
