"""Job specs: parse and validate a job file (YAML or JSON) into a ``JobSpec``.

Pure: no I/O. Every problem is collected with the path of the field it is about
(``schedule.cron``, ``constraints[1].operator``) so a user fixes them all in one go;
``SpecError.problems`` holds them.

    name: nightly-report                   # [a-z0-9-], 1-63 characters
    command: "python report.py"            # a shell string, or an argv list
    env: {OUT: /tmp/report}
    resources: {cpus: 0.5, mem: 256, disk: 100, ports: 1}
    constraints:
      - {attribute: rack, operator: EQUALS, value: r1}    # EQUALS | LIKE | UNLIKE (regex)
      - {attribute: hostname, operator: UNIQUE}           # one instance of a run per host
    instances: 10                          # completions
    parallelism: 5
    retries: {limit: 3, backoff: 2s, max_backoff: 1m}   # per: instance (default) | run
    failure_policy:                        # first matching rule wins; default: retry
      - {exit_codes: [2], action: ignore}  # counts as success
      - {exit_codes: [42], action: fail}   # the run fails at once, no retry
      - {exit_codes: [0, 1], operator: not_in, action: restart}  # again, not counted
    timeout: 10m                           # the whole run
    index_env: [JOB_COMPLETION_INDEX]      # also give the instance's index in these variables
    history: {succeeded: 3, failed: 1, ttl: 1h}   # finished runs kept (default: 100 in all)
    labels: {team: data}
    role: eng/dev                          # its tasks' role (batch serve --role); default *
    schedule:
      cron: "30 2 * * *"                   # 5 fields, or @daily...; seconds: true for 6
      timezone: Europe/Berlin
      concurrency: Forbid                  # Allow | Forbid | Replace (scheduled runs)
      starting_deadline: 5m
      catch_up: all                        # none | latest | all (missed while down)
      suspend: false
      # or, instead of cron: interval: R10/2026-03-08T20:00:00Z/PT2H   (ISO 8601: runs
      # in all (R: forever) / first run / period)
    parents: [extract, load]               # run after each successful run of both
    fetch:                                 # artifacts put in the sandbox before it starts
      - https://example.com/tools.tgz      # a URI (archives are unpacked), or:
      - {uri: /opt/bin/tool, executable: true, extract: false, cache: true,
         output_file: bin/tool, checksum: "sha256:<hex>"}
    container: {image: "registry:5000/tools:1", force_pull: false}   # run in an image
    # with a container, command may be left out (the image's Entrypoint/Cmd run); an argv
    # command replaces its Cmd; container.entrypoint: [..] replaces its Entrypoint too
    # or, instead of command/resources/container: several containers per instance, run
    # together as a task group (frameworks.batch.containers has the lifecycle rules)
    containers:
      - {name: fetch, command: "get-input", resources: {cpus: 0.1, mem: 32},
         lifecycle: {hook: prestart}}                  # runs first, to completion
      - {name: proxy, command: "proxy", lifecycle: {hook: prestart, sidecar: true}}
      - {name: work, command: "python work.py", resources: {cpus: 1, mem: 512},
         env: {MODE: full}, image: "registry:5000/work:1"}   # main: the instance's result
      # image: a name, or {image, force_pull, entrypoint} as in container:
"""

from __future__ import annotations

import json
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import yaml
from croniter import croniter

from frameworks.batch.containers import HOOKS, MAIN, Container
from frameworks.batch.interval import Interval, parse_interval
from mesospy.scheduler import Artifact, ContainerSpec, parse_container, parse_fetch

__all__ = [
    "ACTIONS",
    "CATCH_UP",
    "CONCURRENCY",
    "OPERATORS",
    "Constraint",
    "FailureRule",
    "History",
    "JobSpec",
    "Retries",
    "Schedule",
    "SpecError",
    "load_spec",
    "parse_duration",
    "parse_spec",
]

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OPERATORS = ("EQUALS", "LIKE", "UNLIKE", "UNIQUE")
ACTIONS = ("fail", "retry", "ignore", "restart")
RULE_OPERATORS = ("in", "not_in")
RETRY_SCOPES = ("instance", "run")
CONCURRENCY = ("Allow", "Forbid", "Replace")
CATCH_UP = ("none", "latest", "all")
# A run is one document in the store (ZooKeeper's limit is 1 MB): ~250 bytes an instance.
MAX_INSTANCES = 1000
_RESOURCES = ("cpus", "mem", "disk")
_LIFECYCLE = ("hook", "sidecar")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


class SpecError(ValueError):
    """The spec is invalid; ``problems`` lists ``(field path, reason)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{path}: {reason}" if path else reason for path, reason in problems]
        super().__init__("invalid job spec:\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class Constraint:
    """Where an instance may run: an agent attribute (or ``hostname``) compared to a value."""

    attribute: str
    operator: str
    value: str = ""


@dataclass(frozen=True)
class FailureRule:
    """What a non-zero exit with one of ``exit_codes`` means: fail, retry, ignore (a
    success) or restart (again, not counted as a failure). With ``operator`` ``not_in``
    the rule matches the exit codes not listed."""

    exit_codes: tuple[int, ...]
    action: str
    operator: str = "in"

    def matches(self, exit_code: int) -> bool:
        return (exit_code in self.exit_codes) == (self.operator == "in")


@dataclass(frozen=True)
class Retries:
    """How often a failed instance is started again, waiting ``backoff * 2**n`` between.

    ``per`` ``instance``: each instance may fail ``limit`` times; ``run``: the failed
    attempts of all the run's instances together (Kubernetes' ``backoffLimit``)."""

    limit: int = 0
    backoff: float = 1.0
    max_backoff: float = 300.0
    per: str = "instance"

    def delay(self, failures: int) -> float:
        """Seconds to wait before the attempt that follows the ``failures``-th failure."""
        return float(min(self.max_backoff, self.backoff * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class History:
    """Which finished runs are kept: the latest ``succeeded`` successes and ``failed``
    others (None: ``MAX_HISTORY`` runs in all), none longer than ``ttl`` seconds."""

    succeeded: int | None = None
    failed: int | None = None
    ttl: float | None = None


@dataclass(frozen=True)
class Schedule:
    """A cron schedule (or an ISO 8601 interval) and what to do with overlapping or
    missed runs."""

    cron: str
    timezone: str = "UTC"
    concurrency: str = "Allow"
    starting_deadline: float | None = None
    catch_up: str = "all"
    suspend: bool = False
    # The expression has 6 fields, the first of them seconds (Quartz's and Spring's order).
    seconds: bool = False
    interval: Interval | None = None  # instead of cron

    @property
    def text(self) -> str:
        """The schedule as the user wrote it (the cron expression or the interval)."""
        return self.interval.text if self.interval is not None else self.cron

    @property
    def expression(self) -> str:
        """The cron expression with a macro (``@daily``...) spelled out as its fields."""
        return CRON_MACROS.get(self.cron.strip().lower(), self.cron)

    @property
    def hour_field(self) -> str:
        return self.expression.split()[2 if self.seconds else 1]


# Cron's macros, as cronie and Kubernetes take them, and the 5 fields each stands for.
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_problem(cron: object, seconds: bool) -> str | None:
    """Why ``cron`` is not a schedule this framework runs (None: it is one)."""
    if not isinstance(cron, str) or not cron.strip():
        return f"must be a cron expression of 5 fields (or a macro such as @daily), not {cron!r}"
    text = cron.strip()
    if text.startswith("@"):
        if text.lower() in CRON_MACROS:
            return None if not seconds else "a macro has no seconds field: drop seconds: true"
        if text.lower().startswith("@every"):
            return (
                f"{text!r} is an interval, not a cron schedule: write it as cron "
                "(e.g. '*/5 * * * *' for every 5 minutes)"
            )
        return f"{text!r} is not one of {', '.join(CRON_MACROS)}"
    fields = len(text.split())
    if fields == 6 and not seconds:
        return (
            f"{text!r} has 6 fields: cron has 5 (minute hour day month weekday); if the first "
            "is seconds, add seconds: true to the schedule"
        )
    if fields != (6 if seconds else 5):
        want = "6 fields (seconds first)" if seconds else "5 fields"
        return f"must be a cron expression of {want}, not {text!r}"
    if not croniter.is_valid(text, second_at_beginning=seconds):
        return f"{text!r} is not a valid cron expression"
    return None


@dataclass(frozen=True)
class JobSpec:
    """A validated job definition."""

    name: str
    command: str | tuple[str, ...]  # empty: the container image's Entrypoint/Cmd run
    env: dict[str, str] = field(default_factory=dict)
    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 0.0
    ports: int = 0
    constraints: tuple[Constraint, ...] = ()
    instances: int = 1
    parallelism: int = 1
    retries: Retries = Retries()
    failure_policy: tuple[FailureRule, ...] = ()
    timeout: float | None = None
    index_env: tuple[str, ...] = ()
    history: History = History()
    labels: dict[str, str] = field(default_factory=dict)
    schedule: Schedule | None = None
    parents: tuple[str, ...] = ()
    fetch: tuple[Artifact, ...] = ()
    role: str = "*"  # the role its tasks run in: one the framework subscribed with
    container: ContainerSpec | None = None
    # Every instance's containers; one (made of command, resources and container) unless
    # the job declares several. With several, cpus/mem/disk are their sums.
    containers: tuple[Container, ...] = ()

    def __post_init__(self) -> None:
        if not self.containers:
            main = Container(
                "main", self.command, self.cpus, self.mem, self.disk, image=self.container
            )
            object.__setattr__(self, "containers", (main,))

    @property
    def group(self) -> bool:
        """Whether an instance runs as a task group (several containers)."""
        return len(self.containers) > 1

    def action_for(self, exit_code: int | None) -> str:
        """The failure policy's action for a task that failed with ``exit_code``."""
        if exit_code is not None:
            for rule in self.failure_policy:
                if rule.matches(exit_code):
                    return rule.action
        return "retry"

    def to_dict(self) -> dict[str, Any]:
        """The canonical form (stored, and given back by the API); ``parse_spec`` reads it."""
        data: dict[str, Any] = {
            "name": self.name,
            "command": self.command if isinstance(self.command, str) else list(self.command),
            "env": dict(self.env),
            "resources": {"cpus": self.cpus, "mem": self.mem, "disk": self.disk},
            "instances": self.instances,
            "parallelism": self.parallelism,
            "retries": {
                "limit": self.retries.limit,
                "backoff": self.retries.backoff,
                "max_backoff": self.retries.max_backoff,
            },
            "labels": dict(self.labels),
        }
        if self.retries.per != "instance":
            data["retries"]["per"] = self.retries.per
        if self.role != "*":
            data["role"] = self.role
        if self.ports:
            data["resources"]["ports"] = self.ports
        if self.constraints:
            data["constraints"] = [
                {"attribute": c.attribute, "operator": c.operator, "value": c.value}
                for c in self.constraints
            ]
        if self.failure_policy:
            data["failure_policy"] = [
                {"exit_codes": list(r.exit_codes), "action": r.action}
                | ({"operator": r.operator} if r.operator != "in" else {})
                for r in self.failure_policy
            ]
        if self.timeout is not None:
            data["timeout"] = self.timeout
        if self.index_env:
            data["index_env"] = list(self.index_env)
        history = {k: v for k, v in vars(self.history).items() if v is not None}
        if history:
            data["history"] = history
        if self.schedule is not None:
            s = self.schedule
            when = {"interval": s.interval.text} if s.interval else {"cron": s.cron}
            data["schedule"] = {
                **when,
                "timezone": s.timezone,
                "concurrency": s.concurrency,
                "catch_up": s.catch_up,
                "suspend": s.suspend,
            }
            if s.starting_deadline is not None:
                data["schedule"]["starting_deadline"] = s.starting_deadline
            if s.seconds:
                data["schedule"]["seconds"] = True
        if self.parents:
            data["parents"] = list(self.parents)
        if self.fetch:
            data["fetch"] = [artifact.to_dict() for artifact in self.fetch]
        if self.container is not None:
            data["container"] = self.container.to_dict()
            if not self.command:  # the image's Entrypoint/Cmd run
                del data["command"]
        if self.group:
            del data["command"]
            data["resources"] = {"ports": self.ports} if self.ports else {}
            data["containers"] = [c.to_dict() for c in self.containers]
            if not data["resources"]:
                del data["resources"]
        return data


def parse_duration(value: object) -> float:
    """Seconds from ``30``, ``2.5``, ``"30s"``, ``"5m"``, ``"1h"``, ``"250ms"``."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30, '30s', '5m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError("must be a duration such as 30, '30s', '5m' or '1h'")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def load_spec(text: str) -> JobSpec:
    """Parse a job file's text (YAML, of which JSON is a subset) and validate it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise SpecError([("", f"cannot parse the job file{where}: {problem}")]) from None
    return parse_spec(data)


def parse_spec(data: object) -> JobSpec:
    """Validate plain data (a dict as read from YAML/JSON); raises ``SpecError``."""
    return _Parser().job(data)


def dumps(spec: JobSpec) -> str:
    """The spec as canonical JSON."""
    return json.dumps(spec.to_dict(), sort_keys=True)


class _Parser:
    """Reads fields one by one, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def bad(self, path: str, reason: str) -> None:
        self.problems.append((path, reason))

    def mapping(self, data: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.bad(path, f"must be a mapping, not {_kind(data)}")
            return {}
        for key in data:
            if key not in allowed:
                self.bad(_join(path, str(key)), f"unknown field; known: {', '.join(allowed)}")
        return data

    def number(
        self, data: dict[str, Any], key: str, path: str, default: float, minimum: float = 0.0
    ) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(_join(path, key), f"must be a number, not {_kind(value)}")
            return default
        if value < minimum:
            self.bad(_join(path, key), f"must be at least {minimum:g}, not {value:g}")
            return default
        return float(value)

    def integer(
        self, data: dict[str, Any], key: str, path: str, default: int, lo: int, hi: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(_join(path, key), f"must be a whole number, not {_kind(value)}")
            return default
        if not lo <= value <= hi:
            self.bad(_join(path, key), f"must be between {lo} and {hi}, not {value}")
            return default
        return value

    def duration(self, data: dict[str, Any], key: str, path: str) -> float | None:
        if data.get(key) is None:
            return None
        try:
            return parse_duration(data[key])
        except ValueError as exc:
            self.bad(_join(path, key), str(exc))
            return None

    def string_map(
        self, data: dict[str, Any], key: str, env: bool = False, path: str = ""
    ) -> dict[str, str]:
        value = data.get(key) or {}
        where = _join(path, key)
        if not isinstance(value, dict):
            self.bad(where, f"must be a mapping of names to strings, not {_kind(value)}")
            return {}
        result = {}
        for name, item in value.items():
            if env and not (isinstance(name, str) and ENV_RE.match(name)):
                self.bad(f"{where}.{name}", "is not a valid environment variable name")
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.bad(f"{where}.{name}", f"must be a string, not {_kind(item)}")
                continue
            result[str(name)] = str(item)
        return result

    def choice(
        self, data: dict[str, Any], key: str, path: str, choices: tuple[str, ...], default: str
    ) -> str:
        value = data.get(key, default)
        for choice in choices:
            if isinstance(value, str) and value.lower() == choice.lower():
                return choice
        self.bad(_join(path, key), f"must be one of {', '.join(choices)}, not {value!r}")
        return default

    # ---------------------------------------------------------------- the job

    def job(self, data: object) -> JobSpec:
        fields = (
            "name", "command", "env", "resources", "constraints", "instances", "parallelism",
            "retries", "failure_policy", "timeout", "labels", "schedule", "parents",
            "fetch", "index_env", "history", "role", "container", "containers",
        )  # fmt: skip
        if data is None:
            raise SpecError([("", "the job file is empty")])
        top = self.mapping(data, "", fields)
        name = top.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            self.bad(
                "name",
                "is required: 1-63 lower-case letters, digits and '-', starting and ending "
                f"with a letter or digit (got {name!r})",
            )
            name = ""
        containers = self.containers(top)
        # In an image, its Entrypoint/Cmd run when no command is given.
        image_only = "command" not in top and top.get("container") is not None
        command = "" if image_only or containers else self.command(top.get("command"))
        resource_names = ("cpus", "mem", "disk", "ports")
        resources = self.mapping(top.get("resources") or {}, "resources", resource_names)
        cpus = self.number(resources, "cpus", "resources", 0.1, minimum=0.001)
        mem = self.number(resources, "mem", "resources", 32.0, minimum=1.0)
        disk = self.number(resources, "disk", "resources", 0.0)
        ports = self.integer(resources, "ports", "resources", 0, 0, 100)
        env = self.string_map(top, "env", env=True)
        container = self.container(top.get("container"))
        if len(containers) == 1:  # one container: the plain job it is
            only = containers[0]
            command, cpus, mem, disk = only.command, only.cpus, only.mem, only.disk
            env, container, containers = {**env, **only.env}, only.image, ()
        elif containers:
            # Mesos's scalars have 3 decimals: 0.1 + 1 is 1.1, not 1.1000000000000001.
            cpus = round(sum(c.cpus for c in containers), 3)
            mem = round(sum(c.mem for c in containers), 3)
            disk = round(sum(c.disk for c in containers), 3)
        instances = self.integer(top, "instances", "", 1, 1, MAX_INSTANCES)
        parallelism = self.integer(top, "parallelism", "", instances, 1, MAX_INSTANCES)
        spec = JobSpec(
            name=name,
            command=command,
            env=env,
            cpus=cpus,
            mem=mem,
            disk=disk,
            ports=ports,
            constraints=self.constraints(top.get("constraints")),
            instances=instances,
            parallelism=parallelism,
            retries=self.retries(top.get("retries")),
            failure_policy=self.failure_policy(top.get("failure_policy")),
            timeout=self.duration(top, "timeout", ""),
            labels=self.string_map(top, "labels"),
            schedule=self.schedule(top.get("schedule")),
            parents=self.parents(top.get("parents"), name),
            fetch=self.fetch(top.get("fetch")),
            index_env=self.index_env(top.get("index_env")),
            history=self.history(top.get("history")),
            role=self.role(top.get("role", "*")),
            container=container,
            containers=containers,
        )
        if spec.timeout == 0:
            self.bad("timeout", "must be more than 0 (leave it out for no timeout)")
        entrypoint = spec.container.entrypoint if spec.container else None
        if entrypoint is not None and isinstance(command, str) and command:
            self.bad(
                "command",
                "with container.entrypoint, give the arguments after it as a list, "
                "not a shell string",
            )
        if self.problems:
            raise SpecError(self.problems)
        return spec

    def containers(self, top: dict[str, Any]) -> tuple[Container, ...]:
        """The ``containers:`` list, checked as a whole: unique names, a main one."""
        value = top.get("containers")
        if value is None:
            return ()
        for key, why in (
            ("command", "give either command or containers (each with its command)"),
            ("container", "with containers, give each container its own image"),
        ):
            if key in top:
                self.bad(key, why)
        resources = top.get("resources")
        if isinstance(resources, dict):
            for key in ("cpus", "mem", "disk"):
                if key in resources:
                    self.bad(f"resources.{key}", "with containers, give it on each container")
        if not isinstance(value, list) or not value:
            self.bad("containers", f"must be a non-empty list of containers, not {_kind(value)}")
            return ()
        result: list[Container] = []
        for index, item in enumerate(value):
            container = self.one_container(item, f"containers[{index}]")
            if container is None:
                continue
            if any(c.name == container.name for c in result):
                self.bad(f"containers[{index}].name", f"{container.name!r} is used twice")
            result.append(container)
        if result and len(result) == len(value) and not any(c.main for c in result):
            self.bad(
                "containers",
                "no main container: every one has a lifecycle hook; the instance's result "
                "is its main containers' (leave lifecycle out of at least one)",
            )
        return tuple(result)

    def one_container(self, item: object, path: str) -> Container | None:
        fields = ("name", "command", "resources", "env", "image", "lifecycle")
        data = self.mapping(item, path, fields)
        if not isinstance(item, dict):
            return None
        name = data.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            self.bad(f"{path}.name", f"is required: [a-z0-9-], 1-63 characters (got {name!r})")
            name = ""
        image_value = data.get("image")
        if isinstance(image_value, str):
            image_value = {"image": image_value}
        image, problems = parse_container(image_value, f"{path}.image")
        self.problems.extend(problems)
        before = len(self.problems)
        command: str | tuple[str, ...] = ""
        if "command" in data or image_value is None:
            command = self.command(data.get("command"))
            if len(self.problems) > before:  # say which container
                self.problems[-1] = (f"{path}.command", self.problems[-1][1])
        resources = self.mapping(data.get("resources") or {}, f"{path}.resources", _RESOURCES)
        where = f"{path}.resources"
        lifecycle = self.mapping(data.get("lifecycle") or {}, f"{path}.lifecycle", _LIFECYCLE)
        hook = self.choice(lifecycle, "hook", f"{path}.lifecycle", HOOKS, MAIN)
        sidecar = lifecycle.get("sidecar", False)
        if not isinstance(sidecar, bool):
            self.bad(f"{path}.lifecycle.sidecar", f"must be true or false, not {sidecar!r}")
            sidecar = False
        if sidecar and hook == MAIN:
            self.bad(f"{path}.lifecycle.sidecar", "a sidecar needs hook prestart or poststart")
        env = self.string_map(data, "env", env=True, path=path)
        return Container(
            name,
            command,
            self.number(resources, "cpus", where, 0.1, minimum=0.001),
            self.number(resources, "mem", where, 32.0, minimum=1.0),
            self.number(resources, "disk", where, 0.0),
            env,
            image,
            hook,
            sidecar,
        )

    def role(self, value: object) -> str:
        if isinstance(value, str) and value and not any(c.isspace() for c in value):
            return value
        self.bad("role", f"must be a role name such as eng/dev, not {value!r}")
        return "*"

    def command(self, value: object) -> str | tuple[str, ...]:
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.bad(
            "command",
            "is required: a shell string, or a non-empty list of strings (argv), "
            f"not {_kind(value)}",
        )
        return ""

    def constraints(self, value: object) -> tuple[Constraint, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad("constraints", f"must be a list, not {_kind(value)}")
            return ()
        result = []
        for index, item in enumerate(value):
            path = f"constraints[{index}]"
            data = self.mapping(item, path, ("attribute", "operator", "value"))
            attribute = data.get("attribute")
            if not isinstance(attribute, str) or not attribute:
                self.bad(f"{path}.attribute", "is required: an agent attribute or 'hostname'")
                continue
            operator = self.choice(data, "operator", path, OPERATORS, "EQUALS")
            raw = data.get("value", "")
            if operator != "UNIQUE" and (not isinstance(raw, str | int | float) or raw == ""):
                self.bad(f"{path}.value", f"is required with {operator}")
                continue
            text = str(raw)
            if operator in ("LIKE", "UNLIKE"):
                try:
                    re.compile(text)
                except re.error as exc:
                    self.bad(f"{path}.value", f"is not a valid regular expression: {exc}")
            result.append(Constraint(attribute, operator, "" if operator == "UNIQUE" else text))
        return tuple(result)

    def retries(self, value: object) -> Retries:
        if value is None:
            return Retries()
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"limit": value}
        data = self.mapping(value, "retries", ("limit", "backoff", "max_backoff", "per"))
        limit = self.integer(data, "limit", "retries", 0, 0, 1000)
        backoff = self.duration(data, "backoff", "retries")
        max_backoff = self.duration(data, "max_backoff", "retries")
        return Retries(
            limit,
            1.0 if backoff is None else backoff,
            300.0 if max_backoff is None else max_backoff,
            self.choice(data, "per", "retries", RETRY_SCOPES, "instance"),
        )

    def index_env(self, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(
            isinstance(n, str) and ENV_RE.match(n) for n in names
        ):
            self.bad("index_env", f"must be environment variable names, not {value!r}")
            return ()
        return tuple(names)

    def history(self, value: object) -> History:
        if value is None:
            return History()
        data = self.mapping(value, "history", ("succeeded", "failed", "ttl"))
        counts = [
            None if data.get(key) is None else self.integer(data, key, "history", 0, 0, 1000)
            for key in ("succeeded", "failed")
        ]
        return History(counts[0], counts[1], self.duration(data, "ttl", "history"))

    def failure_policy(self, value: object) -> tuple[FailureRule, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad("failure_policy", f"must be a list of rules, not {_kind(value)}")
            return ()
        rules = []
        for index, item in enumerate(value):
            path = f"failure_policy[{index}]"
            data = self.mapping(item, path, ("exit_codes", "action", "operator"))
            operator = self.choice(data, "operator", path, RULE_OPERATORS, "in")
            codes = data.get("exit_codes")
            if (
                not isinstance(codes, list)
                or not codes
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes)
            ):
                self.bad(f"{path}.exit_codes", "must be a non-empty list of whole numbers")
                codes = []
            elif 0 in codes and operator == "in":
                self.bad(f"{path}.exit_codes", "0 is success; it cannot be a failure")
            action = self.choice(data, "action", path, ACTIONS, "retry")
            rules.append(FailureRule(tuple(codes), action, operator))
        return tuple(rules)

    def schedule(self, value: object) -> Schedule | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = {"cron": value}
        fields = (
            "cron", "timezone", "concurrency", "starting_deadline", "catch_up", "suspend",
            "seconds", "interval",
        )  # fmt: skip
        data = self.mapping(value, "schedule", fields)
        cron = data.get("cron")
        seconds = data.get("seconds", False)
        if not isinstance(seconds, bool):
            self.bad("schedule.seconds", f"must be true or false, not {seconds!r}")
            seconds = False
        interval = None
        if data.get("interval") is not None:
            if cron is not None:
                self.bad("schedule.interval", "a schedule has either cron or interval, not both")
            try:
                interval = parse_interval(data["interval"])
            except ValueError as exc:
                self.bad("schedule.interval", str(exc))
            cron = ""
        elif problem := cron_problem(cron, seconds):
            self.bad("schedule.cron", problem)
            cron = ""
        cron = cron.strip() if isinstance(cron, str) else ""
        tz = data.get("timezone", "UTC")
        try:
            zoneinfo.ZoneInfo(str(tz))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.bad("schedule.timezone", f"unknown time zone {tz!r} (e.g. UTC, Europe/Berlin)")
        suspend = data.get("suspend", False)
        if not isinstance(suspend, bool):
            self.bad("schedule.suspend", f"must be true or false, not {suspend!r}")
            suspend = False
        deadline = self.duration(data, "starting_deadline", "schedule")
        return Schedule(
            cron=cron,
            timezone=str(tz),
            concurrency=self.choice(data, "concurrency", "schedule", CONCURRENCY, "Allow"),
            starting_deadline=deadline,
            catch_up=self.choice(data, "catch_up", "schedule", CATCH_UP, "all"),
            suspend=suspend,
            seconds=seconds,
            interval=interval,
        )

    def fetch(self, value: object) -> tuple[Artifact, ...]:
        artifacts, problems = parse_fetch(value)
        self.problems.extend(problems)
        return artifacts

    def container(self, value: object) -> ContainerSpec | None:
        container, problems = parse_container(value)
        self.problems.extend(problems)
        return container

    def parents(self, value: object, name: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.bad("parents", f"must be a list of job names, not {_kind(value)}")
            return ()
        result = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not NAME_RE.match(item):
                self.bad(f"parents[{index}]", f"{item!r} is not a job name")
            elif item == name:
                self.bad(f"parents[{index}]", "a job cannot be its own parent")
            elif item in result:
                self.bad(f"parents[{index}]", f"{item!r} is listed twice")
            else:
                result.append(item)
        return tuple(result)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__)
