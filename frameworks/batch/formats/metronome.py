"""Metronome v1 jobs (with their ``schedules``) as native job specs. Pure.

id (dots: folders)          name, with ``.`` as ``-``
run.cmd | run.args          command (a shell string | argv); with an image neither is
                            needed (its Entrypoint/Cmd run) and args replace its Cmd
run.docker | run.ucr        container: image, forcePullImage/forcePull as force_pull
run.cpus/mem/disk, env      resources, env (``{"secret": ...}`` values are refused)
run.artifacts               fetch
run.placement.constraints   constraints: EQ/IS EQUALS, LIKE, UNLIKE
run.restart                 NEVER: no retry; ON_FAILURE: retries (at most 1000),
                            activeDeadlineSeconds: the run's timeout
schedules[0]                schedule: cron, timezone, startingDeadlineSeconds (900),
                            concurrencyPolicy ALLOW/FORBID, enabled false: suspended;
                            a tick missed while down runs late only within the deadline
"""

from __future__ import annotations

from typing import Any

from frameworks.batch.formats.common import (
    NO_DOCKER_DAEMON,
    Conversion,
    docker_options,
    job_name,
)

__all__ = ["convert_metronome"]

DEFAULT_STARTING_DEADLINE = 900
ON_FAILURE_RETRIES = 1000
_OPERATORS = {"EQ": "EQUALS", "IS": "EQUALS", "LIKE": "LIKE", "UNLIKE": "UNLIKE"}

_RUN_NO_EFFECT = {
    "maxLaunchDelay": "a run waits for resources without a deadline here",
    "taskKillGracePeriodSeconds": "a killed task gets the agent's grace period",
    "networks": "tasks share the agent's network",
}
_RUN_REFUSED = {
    "volumes": "volumes are not supported: tasks write to their sandbox",
    "secrets": "secrets are not supported yet: leave them out",
    "user": "tasks run as the agent's user here: leave user out",
}


def convert_metronome(data: dict[str, Any]) -> Conversion:
    """A Metronome job (``id``, ``run``, ``schedules``) as native spec data."""
    c = Conversion("metronome")
    native = c.native
    c.fields(
        data,
        "",
        ("id", "labels", "run", "schedules"),
        {"description": "descriptions are not kept"},
        {},
    )
    native["name"] = job_name(c, data.get("id"), "id")
    labels = c.mapping(data.get("labels"), "labels")
    if labels:
        native["labels"] = {str(k): str(v) for k, v in labels.items()}
    _run(c, c.mapping(data.get("run"), "run"))
    schedules = c.sequence(data.get("schedules"), "schedules")
    if len(schedules) > 1:
        c.refuse(
            "schedules",
            f"a job has one schedule here, not {len(schedules)}: submit a copy of the job "
            "(another id) for each further schedule",
        )
    elif schedules:
        _schedule(c, c.mapping(schedules[0], "schedules[0]"), "schedules[0]")
    return c


def _run(c: Conversion, run: dict[str, Any]) -> None:
    native = c.native
    used = (
        "cmd",
        "args",
        "cpus",
        "mem",
        "disk",
        "gpus",
        "env",
        "artifacts",
        "placement",
        "restart",
        "docker",
        "ucr",
    )
    c.fields(run, "run", used, _RUN_NO_EFFECT, _RUN_REFUSED)
    image = _image(c, run)
    cmd, args = run.get("cmd"), run.get("args")
    if cmd is not None and args is not None:
        c.refuse("run.args", "give cmd or args, not both (as Metronome requires)")
    elif cmd is not None:
        native["command"] = cmd
    elif args is not None:
        native["command"] = args
    elif not image:
        c.refuse("run.cmd", "is required (or args, or an image): the command to run")
    resources = {key: run[key] for key in ("cpus", "mem", "disk") if key in run}
    if resources:
        native["resources"] = resources
    if run.get("gpus"):
        c.refuse("run.gpus", "GPUs are not offered here")
    env: dict[str, Any] = {}
    for name, value in c.mapping(run.get("env"), "run.env").items():
        if isinstance(value, dict):
            c.refuse(f"run.env.{name}", "secrets are not supported yet: give the value")
        else:
            env[str(name)] = value
    if env:
        native["env"] = env
    artifacts = c.sequence(run.get("artifacts"), "run.artifacts")
    if artifacts:
        native["fetch"] = artifacts  # the same keys: uri, executable, extract, cache
    placement = c.mapping(run.get("placement"), "run.placement")
    c.fields(placement, "run.placement", ("constraints",), {}, {})
    constraints = []
    for index, item in enumerate(
        c.sequence(placement.get("constraints"), "run.placement.constraints")
    ):
        where = f"run.placement.constraints[{index}]"
        rule = c.mapping(item, where)
        operator = rule.get("operator")
        if operator not in _OPERATORS:
            c.refuse(f"{where}.operator", f"must be EQ, IS, LIKE or UNLIKE, not {operator!r}")
            continue
        constraints.append(
            {
                "attribute": rule.get("attribute"),
                "operator": _OPERATORS[operator],
                "value": rule.get("value", ""),
            }
        )
    if constraints:
        native["constraints"] = constraints
    restart = c.mapping(run.get("restart"), "run.restart")
    c.fields(restart, "run.restart", ("policy", "activeDeadlineSeconds"), {}, {})
    policy = restart.get("policy", "NEVER")
    deadline = c.whole(restart, "activeDeadlineSeconds", "run.restart", lo=1)
    if policy == "ON_FAILURE":
        native["retries"] = {"limit": ON_FAILURE_RETRIES}
        c.change(
            "run.restart.policy",
            f"ON_FAILURE: a failed task is restarted at most {ON_FAILURE_RETRIES} times",
        )
        if deadline is not None:
            native["timeout"] = deadline
            c.change(
                "run.restart.activeDeadlineSeconds",
                "the run's timeout: it ends after this long, also while a task still runs",
            )
    elif policy == "NEVER":
        if deadline is not None:
            c.ignore("run.restart.activeDeadlineSeconds", "NEVER restarts: nothing to limit")
    else:
        c.refuse("run.restart.policy", f"must be NEVER or ON_FAILURE, not {policy!r}")


def _image(c: Conversion, run: dict[str, Any]) -> bool:
    """``run.docker`` or ``run.ucr`` as the native ``container``; whether there is one."""
    docker = c.mapping(run.get("docker"), "run.docker")
    ucr = c.mapping(run.get("ucr"), "run.ucr")
    if docker and ucr:
        c.refuse("run.ucr", "give docker or ucr, not both")
        return False
    if docker:
        c.fields(
            docker, "run.docker", ("image", "forcePullImage", "privileged", "parameters"), {}, {}
        )
        docker_options(c, docker, "run.docker")
        c.change("run.docker", NO_DOCKER_DAEMON)
        name, force, where = docker.get("image"), docker.get("forcePullImage"), "run.docker"
    elif ucr:
        c.fields(ucr, "run.ucr", ("image", "privileged"), {}, {})
        docker_options(c, ucr, "run.ucr")
        section = c.mapping(ucr.get("image"), "run.ucr.image")
        c.fields(section, "run.ucr.image", ("id", "forcePull", "kind"), {}, {})
        kind = section.get("kind", "docker")
        if kind != "docker":
            c.refuse("run.ucr.image.kind", f"only docker images run here, not {kind!r}")
        name, force, where = section.get("id"), section.get("forcePull"), "run.ucr.image"
    else:
        return False
    if not isinstance(name, str) or not name.strip():
        key = "image" if docker else "id"
        c.refuse(f"{where}.{key}", f"is required: the image's name, not {name!r}")
        return False
    container: dict[str, Any] = {"image": name.strip()}
    if force:
        container["force_pull"] = force
    c.native["container"] = container
    return True


def _schedule(c: Conversion, schedule: dict[str, Any], path: str) -> None:
    used = (
        "cron",
        "timezone",
        "timeZone",
        "startingDeadlineSeconds",
        "concurrencyPolicy",
        "enabled",
    )
    c.fields(
        schedule,
        path,
        used,
        {"id": "one schedule per job: it needs no id", "nextRunAt": "status data"},
        {},
    )
    native: dict[str, Any] = {"cron": schedule.get("cron"), "catch_up": "latest"}
    zone = schedule.get("timezone", schedule.get("timeZone"))
    if zone is not None:
        native["timezone"] = zone
    deadline = c.whole(schedule, "startingDeadlineSeconds", path, lo=1)
    native["starting_deadline"] = DEFAULT_STARTING_DEADLINE if deadline is None else deadline
    policy = schedule.get("concurrencyPolicy", "ALLOW")
    if policy in ("ALLOW", "FORBID"):
        native["concurrency"] = policy.capitalize()
    else:
        c.refuse(f"{path}.concurrencyPolicy", f"must be ALLOW or FORBID, not {policy!r}")
    enabled = c.flag(schedule, "enabled", path)
    if enabled is False:
        native["suspend"] = True
    c.native["schedule"] = native
