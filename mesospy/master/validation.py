"""Checks of what frameworks and agents send; each returns a message a person can act on.

Pure functions over protobuf messages: no state, no I/O.
"""

from __future__ import annotations

import math

from mesospy.container_info import container_problem
from mesospy.resources import ResourceError, Resources, volume_problem
from mesospy.uris import uris_problem
from mesospy.v1 import common_pb2 as pb

MAX_ID_LENGTH = 255
MAX_NAME_LENGTH = 1024


def id_problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a usable id (task, framework, agent), or None if it is."""
    if not value:
        return f"{kind} must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{kind} {value[:40]!r}... is {len(value)} characters; at most {MAX_ID_LENGTH}"
    if value in (".", ".."):
        return f"{kind} {value!r} is not allowed"
    if value.isprintable() and "/" not in value and " " not in value:
        return None  # the common case, without a walk over every character in Python
    bad = [c for c in value if c == "/" or c.isspace() or not c.isprintable()]
    if bad:
        return (
            f"{kind} {value!r} contains {bad[0]!r}; "
            "ids may not contain '/', spaces or control characters"
        )
    return None


def role_problem(role: str) -> str | None:
    """Why ``role`` is not a valid role name, or None.

    As in Mesos: ``*``, or a path of ``/``-separated segments (``eng/dev``); no leading or
    trailing ``/``, no empty segment, no segment ``.``, ``..`` or ``*``, none starting with
    ``-``, and no whitespace, backslash or control character anywhere.
    """
    if role == "*":
        return None
    if not role:
        return "role '' is not valid: give a name such as 'eng' or 'eng/dev'"
    if any(c.isspace() or c == "\\" or not c.isprintable() for c in role):
        return f"role {role!r} may not contain whitespace, '\\' or control characters"
    if role.startswith("/") or role.endswith("/"):
        return f"role {role!r} may not start or end with '/'"
    for segment in role.split("/"):
        if not segment:
            return f"role {role!r} has an empty path segment ('//')"
        if segment in (".", "..", "*"):
            return f"role {role!r}: a path segment may not be {segment!r}"
        if segment.startswith("-"):
            return f"role {role!r}: a path segment may not start with '-'"
    return None


def _finite_non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def framework_info_problems(info: pb.FrameworkInfo) -> list[str]:
    """Everything wrong with a FrameworkInfo sent with SUBSCRIBE."""
    problems = []
    if not info.name:
        problems.append("framework_info.name must not be empty")
    elif len(info.name) > MAX_NAME_LENGTH:
        problems.append(f"framework_info.name is longer than {MAX_NAME_LENGTH} characters")
    if info.id and (p := id_problem("framework_info.id", info.id)):
        problems.append(p)
    if not _finite_non_negative(info.failover_timeout):
        problems.append(
            f"framework_info.failover_timeout is {info.failover_timeout}; "
            "it must be a finite number of seconds >= 0"
        )
    if len(set(info.roles)) != len(info.roles):
        problems.append(f"framework_info.roles {list(info.roles)} has duplicates")
    problems.extend(p for r in info.roles if (p := role_problem(r)))
    return problems


def refuse_seconds_problem(filters: pb.Filters) -> str | None:
    if filters.HasField("refuse_seconds") and not _finite_non_negative(filters.refuse_seconds):
        return f"filters.refuse_seconds is {filters.refuse_seconds}; it must be finite and >= 0"
    return None


def kill_policy_problem(policy: pb.KillPolicy) -> str | None:
    if policy.HasField("grace_period_seconds") and not _finite_non_negative(
        policy.grace_period_seconds
    ):
        return (
            f"kill_policy.grace_period_seconds is {policy.grace_period_seconds}; "
            "it must be finite and >= 0"
        )
    return None


def command_problem(command: pb.CommandInfo, where: str, image: bool = False) -> str | None:
    """``image``: the task runs in a container image, whose Entrypoint/Cmd may stand for
    the command (then neither 'shell' nor 'argv' is needed)."""
    if command.shell and command.argv:
        return f"{where} must have exactly one of 'shell' and 'argv'"
    if not command.shell and not command.argv and not image:
        return f"{where} must have exactly one of 'shell' and 'argv'"
    if command.replace_entrypoint and not command.argv:
        return f"{where}.replace_entrypoint needs 'argv' (the program that replaces it)"
    if command.argv and not command.argv[0]:
        return f"{where}.argv[0] must name the program to run"
    if any("\0" in s for s in (command.shell, *command.argv)):
        return f"{where} contains a NUL character"
    if command.uris and (p := uris_problem(list(command.uris))):
        return f"{where}.{p}"
    return None


def health_check_problem(check: pb.HealthCheck) -> str | None:
    where = "health_check"
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        if check.HasField(name) and not _finite_non_negative(getattr(check, name)):
            return f"{where}.{name} must be finite and >= 0"
    if check.type == pb.HealthCheck.COMMAND:
        return command_problem(check.command, f"{where}.command")
    if check.type == pb.HealthCheck.HTTP:
        if not 0 < check.http.port < 65536:
            return f"{where}.http.port {check.http.port} is not a port (1-65535)"
        if check.http.scheme not in ("", "http", "https"):
            return f"{where}.http.scheme {check.http.scheme!r} is not 'http' or 'https'"
        return None
    if check.type == pb.HealthCheck.TCP:
        if not 0 < check.tcp.port < 65536:
            return f"{where}.tcp.port {check.tcp.port} is not a port (1-65535)"
        return None
    return f"{where}.type must be COMMAND, HTTP or TCP"


def task_problem(
    task: pb.TaskInfo, agent_id: str, in_group: bool = False
) -> tuple[str | None, Resources | None]:
    """Why a task cannot be launched on ``agent_id`` (and its resources if it can).
    A task of a group carries the group's executor, and may have a command (which the
    DEFAULT executor needs)."""
    label = f"task {task.task_id!r}"
    if p := id_problem("task_id", task.task_id):
        return p, None
    if task.agent_id and task.agent_id != agent_id:
        return f"{label} names agent {task.agent_id!r} but the offers are for {agent_id!r}", None
    if len(task.name) > MAX_NAME_LENGTH:
        return f"{label} has a name longer than {MAX_NAME_LENGTH} characters", None
    try:
        resources = Resources.from_proto(task.resources)
    except ResourceError as exc:
        return f"{label} has invalid resources: {exc}", None
    if resources.is_empty():
        return f"{label} asks for no resources; give at least cpus or mem", None
    default = task.executor.type == pb.ExecutorInfo.DEFAULT
    image = task.container.mesos.HasField("image")
    if in_group:
        if default and not task.HasField("command"):
            return f"{label} of a group run by the DEFAULT executor needs a command", None
        if task.HasField("command") and (
            p := command_problem(task.command, f"{label} command", image)
        ):
            return p, None
    elif task.HasField("lifecycle"):
        return f"{label}: lifecycle orders the tasks of a group; use LAUNCH_GROUP", None
    elif task.HasField("executor"):
        if default:
            return (
                f"{label}: the DEFAULT executor runs task groups only; use LAUNCH_GROUP",
                None,
            )
        if task.HasField("command"):
            return (
                f"{label} gives both command and executor; give command for a task the "
                "agent runs, or executor for one its executor runs",
                None,
            )
    elif not task.HasField("command") and not image:
        return (
            f"{label} gives neither command nor executor: its command must have exactly one "
            "of 'shell' and 'argv' (or give an executor to run it)",
            None,
        )
    elif p := command_problem(task.command, f"{label} command", image):
        return p, None
    if task.HasField("container") and (p := container_problem(task.container)):
        return f"{label}: {p}", None
    if task.HasField("health_check") and (p := health_check_problem(task.health_check)):
        return f"{label}: {p}", None
    if p := kill_policy_problem(task.kill_policy):
        return f"{label}: {p}", None
    if task.HasField("max_completion_time_seconds") and not (
        math.isfinite(task.max_completion_time_seconds) and task.max_completion_time_seconds > 0
    ):
        return f"{label}: max_completion_time_seconds must be finite and > 0", None
    return None, resources


def group_lifecycle_problem(tasks: list[pb.TaskInfo]) -> str | None:
    """Why a task group's lifecycle cannot run: its PRESTART and POSTSTART tasks exist
    for its MAIN tasks, so a group with lifecycle hooks needs at least one MAIN task."""
    hooks = [t for t in tasks if t.lifecycle.hook != pb.TaskLifecycle.MAIN]
    if hooks and len(hooks) == len(tasks):
        names = ", ".join(repr(t.task_id) for t in hooks)
        return (
            f"the group has no main task: {names} have lifecycle hooks, which run beside "
            "main tasks; leave the lifecycle out of at least one task"
        )
    return None


def agent_info_problems(info: pb.AgentInfo) -> tuple[list[str], Resources | None]:
    """Everything wrong with the AgentInfo an agent registers with."""
    problems = []
    if not info.hostname:
        problems.append("agent_info.hostname must not be empty")
    if not 0 < info.port < 65536:
        problems.append(f"agent_info.port {info.port} is not a port (1-65535)")
    resources = None
    try:
        resources = Resources.from_proto(info.resources)
    except ResourceError as exc:
        problems.append(f"agent_info.resources: {exc}")
    else:
        if p := volume_problem(resources, "agent_info.resources"):
            problems.append(p)
        if resources.is_empty():
            problems.append("agent_info.resources is empty; an agent must offer something")
    return problems, resources
