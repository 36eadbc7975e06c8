"""Small helpers for building tasks from offers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mesospy.resources import Resources
from mesospy.task_states import TERMINAL_STATES, is_terminal
from mesospy.v1 import common_pb2

__all__ = [
    "TERMINAL_STATES",
    "default_executor",
    "executor",
    "executor_task",
    "how_many_fit",
    "is_terminal",
    "offer_resources",
    "state_name",
    "task",
]


def _as_resources(resources: str | Resources | Iterable[common_pb2.Resource]) -> Resources:
    if isinstance(resources, Resources):
        return resources
    if isinstance(resources, str):
        return Resources.parse(resources)
    return Resources.from_proto(list(resources))


def task(
    task_id: str,
    command: str | Sequence[str],
    resources: str | Resources | Iterable[common_pb2.Resource],
    *,
    agent_id: str = "",
    name: str = "",
    env: Mapping[str, str] | None = None,
    health_check: common_pb2.HealthCheck | None = None,
    labels: Mapping[str, str] | None = None,
    kill_grace_period: float | None = None,
    max_completion_time: float | None = None,
    uris: Iterable[str | common_pb2.CommandInfo.URI] = (),
    image: str | None = None,
    force_pull: bool = False,
    entrypoint: Sequence[str] | None = None,
    lifecycle: str | None = None,
    sidecar: bool = False,
) -> common_pb2.TaskInfo:
    """Build a ``TaskInfo``.

    ``command`` is a shell string (run with ``/bin/sh -c``) or an argv list (exec'd).
    ``resources`` is ``"cpus:0.1;mem:32"``, a ``Resources`` or a list of ``Resource``.
    ``agent_id`` may stay empty when the task is passed to ``driver.launch``, which fills
    it in from the offer. ``uris`` are artifacts the agent fetches into the sandbox before
    the task starts: URI strings, or ``uri(...)`` values for checksums, caching, etc.
    ``image`` runs the task in a container image ("registry:5000/team/app:1.2"); an empty
    ``command`` ("" or []) then runs the image's Entrypoint/Cmd, an argv list replaces its
    Cmd. ``force_pull`` asks the agent for the image's manifest again even if it has it.
    ``entrypoint`` (with ``image``) replaces the image's Entrypoint and Cmd: the task runs
    ``entrypoint`` followed by ``command`` (an argv list, or empty).
    ``lifecycle`` (``"prestart"``, ``"main"`` or ``"poststart"``) and ``sidecar`` order a
    task within its group (``driver.launch_group``), as Nomad's task lifecycle does.
    """
    info = common_pb2.TaskInfo(task_id=task_id, name=name or task_id, agent_id=agent_id)
    if entrypoint is not None:
        if image is None or (isinstance(command, str) and command):
            raise ValueError("entrypoint needs an image and an argv (or empty) command")
        info.command.argv.extend([*entrypoint, *command])
        info.command.replace_entrypoint = True
    elif isinstance(command, str):
        info.command.shell = command
    else:
        info.command.argv.extend(command)
    info.command.environment.update(env or {})
    for item in uris:
        info.command.uris.append(
            common_pb2.CommandInfo.URI(value=item) if isinstance(item, str) else item
        )
    info.resources.extend(_as_resources(resources).to_proto())
    if image is not None:
        info.container.type = common_pb2.ContainerInfo.MESOS
        info.container.mesos.image.type = common_pb2.Image.DOCKER
        info.container.mesos.image.docker.name = image
        if force_pull:
            info.container.mesos.image.cached = False
    if health_check is not None:
        info.health_check.CopyFrom(health_check)
    for key, value in (labels or {}).items():
        info.labels.add(key=key, value=value)
    if kill_grace_period is not None:
        info.kill_policy.grace_period_seconds = kill_grace_period
    if max_completion_time is not None:
        info.max_completion_time_seconds = max_completion_time
    if lifecycle is not None or sidecar:
        hook = (lifecycle or "main").upper()
        info.lifecycle.hook = common_pb2.TaskLifecycle.Hook.Value(hook)  # type: ignore[assignment]
        info.lifecycle.sidecar = sidecar
    return info


def executor(
    executor_id: str,
    command: str | Sequence[str],
    resources: str | Resources | Iterable[common_pb2.Resource] = "",
    *,
    name: str = "",
    env: Mapping[str, str] | None = None,
    uris: Iterable[str | common_pb2.CommandInfo.URI] = (),
    image: str | None = None,
) -> common_pb2.ExecutorInfo:
    """Build an ``ExecutorInfo``: the framework's own executor, started by the agent
    with the first task naming it (``executor_task``) and given every later one. Its
    ``resources`` are its own, beside its tasks'. Every task naming ``executor_id`` on
    one agent must give the same ExecutorInfo. With ``image`` it runs in that container
    image, as an image task does (its sandbox at /mnt/mesos/sandbox)."""
    info = common_pb2.ExecutorInfo(executor_id=executor_id, name=name or executor_id)
    if isinstance(command, str):
        info.command.shell = command
    else:
        info.command.argv.extend(command)
    info.command.environment.update(env or {})
    for item in uris:
        info.command.uris.append(
            common_pb2.CommandInfo.URI(value=item) if isinstance(item, str) else item
        )
    if resources:
        info.resources.extend(_as_resources(resources).to_proto())
    if image is not None:
        info.container.type = common_pb2.ContainerInfo.MESOS
        info.container.mesos.image.type = common_pb2.Image.DOCKER
        info.container.mesos.image.docker.name = image
    return info


def default_executor(
    executor_id: str, resources: str | Resources | Iterable[common_pb2.Resource] = ""
) -> common_pb2.ExecutorInfo:
    """mesospy's DEFAULT executor for ``driver.launch_group``: it runs each task's own
    command, and kills the group's other tasks when one fails or is killed."""
    info = common_pb2.ExecutorInfo(
        executor_id=executor_id, name=executor_id, type=common_pb2.ExecutorInfo.DEFAULT
    )
    if resources:
        info.resources.extend(_as_resources(resources).to_proto())
    return info


def executor_task(
    task_id: str,
    executor_info: common_pb2.ExecutorInfo,
    resources: str | Resources | Iterable[common_pb2.Resource],
    *,
    agent_id: str = "",
    name: str = "",
    labels: Mapping[str, str] | None = None,
) -> common_pb2.TaskInfo:
    """Build a ``TaskInfo`` run by ``executor_info`` (no command of its own)."""
    info = common_pb2.TaskInfo(task_id=task_id, name=name or task_id, agent_id=agent_id)
    info.executor.CopyFrom(executor_info)
    info.resources.extend(_as_resources(resources).to_proto())
    for key, value in (labels or {}).items():
        info.labels.add(key=key, value=value)
    return info


def offer_resources(offer: common_pb2.Offer) -> Resources:
    """The resources of an offer as a ``Resources`` value."""
    return Resources.from_proto(list(offer.resources))


def how_many_fit(available: Resources, per_task: Resources, limit: int) -> int:
    """How many tasks needing ``per_task`` fit in ``available``, at most ``limit``."""
    count = 0
    while count < limit and available.contains(per_task):
        available = available - per_task
        count += 1
    return count


def state_name(state: int) -> str:
    """The state's name as Mesos spells it, e.g. ``"TASK_FINISHED"``."""
    return common_pb2.TaskState.Name(state)
