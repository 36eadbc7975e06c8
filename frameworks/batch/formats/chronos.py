"""Chronos jobs (scheduled and dependent) as native job specs. Pure.

name                        name: lower case, other characters as ``-``
command, shell, arguments   command: a shell string (shell true, the default), or
                            argv ``[command, *arguments]`` (shell false)
container                   container: image, forcePullImage as force_pull; with shell
                            false, [command, *arguments] replaces the image's Cmd (DOCKER)
                            or its Entrypoint (MESOS), as the two containerizers do
schedule R[n]/start/period  schedule.interval (ISO 8601: n runs, or forever)
scheduleTimeZone            the zone the start and the period are read in (it wins
                            over the start's own offset, as in Chronos)
epsilon (PT60S)             schedule.starting_deadline; a late tick runs only within it
parents                     parents (a dependent job)
retries (2)                 retries.limit
cpus/mem/disk (0.1/128/256) resources
uris, fetch                 fetch
environmentVariables        env
constraints [[a, op, v]]    constraints: EQUALS, LIKE, UNLIKE
disabled                    schedule.suspend
concurrent (false)          schedule.concurrency Allow (Forbid)
"""

from __future__ import annotations

from typing import Any

from frameworks.batch.formats.common import (
    NO_DOCKER_DAEMON,
    Conversion,
    docker_options,
    job_name,
)
from frameworks.batch.interval import parse_interval, parse_iso_duration

__all__ = ["convert_chronos", "looks_like_chronos"]

DEFAULT_EPSILON = 60
_OWN_FIELDS = {
    "epsilon",
    "owner",
    "ownerName",
    "async",
    "shell",
    "arguments",
    "environmentVariables",
    "scheduleTimeZone",
    "uris",
    "softError",
    "highPriority",
    "disabled",
    "concurrent",
    "runAsUser",
    "executor",
    "executorFlags",
    "dataJob",
    "dataProcessingJobType",
    "successCount",
    "errorCount",
    "lastSuccess",
    "lastError",
    "errorsSinceLastSuccess",
    "cpus",
    "mem",
    "disk",
    "taskInfoData",
    "errorsBeforeDisabled",
}
_NO_EFFECT = {
    "description": "descriptions are not kept",
    "owner": "no failure mails are sent",
    "ownerName": "owners are not kept",
    "softError": "failed runs never disable a job here",
    "errorsBeforeDisabled": "failed runs never disable a job here",
    "highPriority": "no priorities among jobs",
    "dataJob": "no progress tracking",
    "dataProcessingJobType": "no progress tracking",
    "successCount": "status data",
    "errorCount": "status data",
    "lastSuccess": "status data",
    "lastError": "status data",
    "errorsSinceLastSuccess": "status data",
}
_REFUSED = {
    "async": "asynchronous jobs report their end over Chronos's API, which does not exist "
    "here: a run ends when its command does",
    "runAsUser": "tasks run as the agent's user here: leave runAsUser out",
    "taskInfoData": "custom task data is not supported",
}
_OPERATORS = ("EQUALS", "LIKE", "UNLIKE")


def looks_like_chronos(data: dict[str, Any]) -> bool:
    """A Chronos job: ``name`` and ``command`` with an ISO 8601 ``schedule``, a
    ``container`` of Chronos's shape, or any of Chronos's own fields (a native spec has
    none of them)."""
    if "name" not in data or "command" not in data:
        return False
    schedule = data.get("schedule")
    if isinstance(schedule, str) and schedule.startswith("R") and "/" in schedule:
        return True
    container = data.get("container")
    if isinstance(container, dict) and set(container) - {"image", "force_pull", "entrypoint"}:
        return True  # Chronos's {type, image, forcePullImage, ...}, not the native one
    return bool(_OWN_FIELDS & set(data))


def convert_chronos(data: dict[str, Any]) -> Conversion:
    """A Chronos job as native spec data (see the module)."""
    c = Conversion("chronos")
    native = c.native
    used = (
        "name",
        "command",
        "shell",
        "arguments",
        "schedule",
        "scheduleTimeZone",
        "parents",
        "retries",
        "epsilon",
        "cpus",
        "mem",
        "disk",
        "uris",
        "fetch",
        "environmentVariables",
        "constraints",
        "disabled",
        "concurrent",
        "executor",
        "executorFlags",
        "async",
        "container",
    )
    c.fields(data, "", used, _NO_EFFECT, _REFUSED)
    if data.get("async") is True:
        c.refuse("async", _REFUSED["async"])
    for key in ("executor", "executorFlags"):
        if data.get(key):
            c.refuse(key, "custom executors are not supported: tasks run their command")
    native["name"] = job_name(c, data.get("name"), "name")
    _command(c, data, _container(c, c.mapping(data.get("container"), "container")))
    resources = {}
    for key, default in (("cpus", 0.1), ("mem", 128.0), ("disk", 256.0)):
        value = data.get(key, default)
        try:
            resources[key] = float(value)  # Chronos takes "0.5" as well as 0.5
        except (TypeError, ValueError):
            c.refuse(key, f"must be a number, not {value!r}")
    native["resources"] = resources
    retries = c.whole(data, "retries", "")
    native["retries"] = {"limit": 2 if retries is None else retries}
    _fetch(c, data)
    env = {}
    for index, item in enumerate(
        c.sequence(data.get("environmentVariables"), "environmentVariables")
    ):
        var = c.mapping(item, f"environmentVariables[{index}]")
        if not isinstance(var.get("name"), str):
            c.refuse(f"environmentVariables[{index}].name", "is required: the variable's name")
            continue
        env[var["name"]] = str(var.get("value", ""))
    if env:
        native["env"] = env
    constraints = []
    for index, item in enumerate(c.sequence(data.get("constraints"), "constraints")):
        where = f"constraints[{index}]"
        if not (isinstance(item, list) and len(item) in (2, 3)):
            c.refuse(where, f"must be [attribute, operator, value], not {item!r}")
            continue
        attribute, operator, *value = item
        if operator not in _OPERATORS:
            c.refuse(f"{where}[1]", f"must be one of {', '.join(_OPERATORS)}, not {operator!r}")
            continue
        constraints.append(
            {"attribute": attribute, "operator": operator, "value": value[0] if value else ""}
        )
    if constraints:
        native["constraints"] = constraints
    _when(c, data)
    return c


def _container(c: Conversion, data: dict[str, Any]) -> str | None:
    """``container`` as the native one; its type (DOCKER or MESOS), None without one."""
    if not data:
        return None
    used = ("type", "image", "forcePullImage", "network", "volumes", "parameters")
    c.fields(data, "container", used, {}, {})
    kind = str(data.get("type", "DOCKER")).upper()
    if kind not in ("DOCKER", "MESOS"):
        c.refuse("container.type", f"must be DOCKER or MESOS, not {data.get('type')!r}")
    elif kind == "DOCKER":
        c.change("container.type", NO_DOCKER_DAEMON)
    docker_options(c, data, "container")
    if data.get("volumes"):
        c.refuse("container.volumes", "volumes are not supported: tasks write to their sandbox")
    image = data.get("image")
    if not isinstance(image, str) or not image.strip():
        c.refuse("container.image", f"is required: the image's name, not {image!r}")
        return None
    native: dict[str, Any] = {"image": image.strip()}
    if data.get("forcePullImage"):
        native["force_pull"] = data["forcePullImage"]
    c.native["container"] = native
    return kind


def _command(c: Conversion, data: dict[str, Any], image: str | None) -> None:
    command = data.get("command")
    shell = data.get("shell", True)
    arguments = [str(a) for a in c.sequence(data.get("arguments"), "arguments")]
    if image and command == "" and shell is False:  # the image's Entrypoint runs
        if arguments:
            c.native["command"] = arguments
        return
    if image and command == "" and shell is True:  # the image's Entrypoint/Cmd run
        return
    if not isinstance(command, str) or not command.strip():
        c.refuse("command", f"is required: the command to run, not {command!r}")
        return
    if shell is True:
        c.native["command"] = command
        if arguments:
            c.ignore("arguments", "ignored with shell true, as in Chronos")
    elif shell is False and image == "MESOS":  # the Mesos containerizer: no Entrypoint
        c.native["container"]["entrypoint"] = [command, *arguments]
    elif shell is False:
        c.native["command"] = [command, *arguments]
    else:
        c.refuse("shell", f"must be true or false, not {shell!r}")


def _fetch(c: Conversion, data: dict[str, Any]) -> None:
    fetch: list[Any] = []
    for uri in c.sequence(data.get("uris"), "uris"):
        fetch.append(uri)  # Mesos's fetcher defaults: archives unpacked
    fetch += c.sequence(data.get("fetch"), "fetch")
    if fetch:
        c.native["fetch"] = fetch
    if data.get("uris"):
        c.change("uris", "fetched as fetch entries (archives are unpacked)")


def _when(c: Conversion, data: dict[str, Any]) -> None:
    schedule, parents = data.get("schedule"), data.get("parents")
    disabled = c.flag(data, "disabled", "")
    concurrent = c.flag(data, "concurrent", "")
    if schedule is not None and parents:
        c.refuse("parents", "a Chronos job has a schedule or parents, not both")
        return
    if parents:
        names = [
            job_name(c, p, f"parents[{i}]") for i, p in enumerate(c.sequence(parents, "parents"))
        ]
        c.native["parents"] = names
        if disabled:
            c.refuse("disabled", "a dependent job cannot be disabled here: delete it instead")
        return
    if schedule is None:
        c.refuse("schedule", "is required (or parents): when the job runs")
        return
    native: dict[str, Any] = {
        "catch_up": "latest",
        "concurrency": "Allow" if concurrent else "Forbid",
    }
    text = schedule if isinstance(schedule, str) else ""
    parts = text.split("/")
    if len(parts) == 3 and not parts[1].strip():
        c.refuse(
            "schedule",
            "an empty start (start now) is not supported: give the time of the first run, as "
            "in R/2026-03-08T20:00:00Z/PT2H",
        )
        return
    zone = data.get("scheduleTimeZone")
    if zone is not None and len(parts) == 3:
        start = parts[1]
        try:
            naive = parse_interval(text).start
            if any(mark in naive[10:] for mark in ("Z", "+", "-")):
                wall = _wall(start)
                parts[1] = wall
                c.change(
                    "scheduleTimeZone",
                    f"the start {start} is read as {wall} in {zone} (the zone wins over the "
                    "offset, as in Chronos)",
                )
        except ValueError:
            pass  # the native spec says what is wrong with it
        native["timezone"] = zone
    native["interval"] = "/".join(parts) if parts != [text] else schedule
    try:
        epsilon = parse_iso_duration(data.get("epsilon", f"PT{DEFAULT_EPSILON}S"))
        native["starting_deadline"] = epsilon
    except ValueError as exc:
        c.refuse("epsilon", str(exc))
    if disabled:
        native["suspend"] = True
    c.native["schedule"] = native


def _wall(start: str) -> str:
    """The wall-clock part of an ISO 8601 time, without its offset."""
    date, _, time = start.partition("T")
    for mark in ("Z", "+", "-"):
        time = time.split(mark)[0]
    return f"{date}T{time}"
