"""The containers of a job's instance: one task each, launched together as a task group.

Pure. A job of one container (a plain ``command``) runs as one task; a job of several
runs each instance as a task group on mesospy's DEFAULT executor, which orders them by
their lifecycle (Nomad's): ``prestart`` containers run to completion before the ``main``
ones start (a failed one fails the instance), a ``sidecar`` runs beside the main
containers for their whole life and is killed once they have ended, ``poststart`` ones
start after the main ones. The instance's result is its main containers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mesospy.scheduler import ContainerSpec, is_terminal
from mesospy.v1 import common_pb2

__all__ = ["HOOKS", "MAIN", "Container", "GroupOutcome", "ended", "group_outcome"]

MAIN, PRESTART, POSTSTART = "main", "prestart", "poststart"
HOOKS = (MAIN, PRESTART, POSTSTART)


@dataclass(frozen=True)
class Container:
    """One container of an instance (a task of its group)."""

    name: str
    command: str | tuple[str, ...]  # empty: the image's Entrypoint/Cmd run
    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    image: ContainerSpec | None = None
    hook: str = MAIN
    sidecar: bool = False

    @property
    def main(self) -> bool:
        return self.hook == MAIN

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "resources": {"cpus": self.cpus, "mem": self.mem, "disk": self.disk},
        }
        if self.command:
            data["command"] = self.command if isinstance(self.command, str) else list(self.command)
        if self.env:
            data["env"] = dict(self.env)
        if self.image is not None:
            data["image"] = self.image.to_dict()
        if not self.main:
            data["lifecycle"] = {"hook": self.hook, "sidecar": self.sidecar}
        return data


@dataclass(frozen=True)
class GroupOutcome:
    """How an attempt of a task group has ended: ``state`` is a task state name
    (TASK_FINISHED: the main containers succeeded), ``cause`` the container it is
    about."""

    state: str
    cause: str
    exit_code: int | None = None
    message: str = ""


_ENDED_WELL = ("TASK_FINISHED", "TASK_KILLED")


def group_outcome(
    containers: tuple[Container, ...], results: Mapping[str, Mapping[str, Any]]
) -> GroupOutcome | None:
    """The attempt's outcome from its containers' latest results (``{name: {state,
    exit_code, message}}``, task state names), or None while it goes on.

    In the order the executor reports them, but so that the answer does not depend on
    it: a container that failed (any terminal state but FINISHED and KILLED) fails the
    attempt; all main containers FINISHED is success, whatever the sidecars do; once every
    container has ended otherwise (killed), it failed as the first killed main container.
    """
    done: dict[str, Mapping[str, Any]] = {}
    for container in containers:
        result = results.get(container.name)
        if result is None or not ended(result["state"]):
            continue
        done[container.name] = result
        if result["state"] not in _ENDED_WELL:  # failed, or never launched
            return _outcome(result["state"], container.name, result)
    mains = [c for c in containers if c.main] or list(containers)
    if all(done.get(c.name, {}).get("state") == "TASK_FINISHED" for c in mains):
        return GroupOutcome("TASK_FINISHED", mains[0].name, 0)
    if len(done) < len(containers):
        return None
    killed = next(c for c in mains if done[c.name]["state"] != "TASK_FINISHED")
    return _outcome("TASK_KILLED", killed.name, done[killed.name])


def _outcome(state: str, name: str, result: Mapping[str, Any]) -> GroupOutcome:
    message = f"container {name!r}: {result.get('message') or state}"
    return GroupOutcome(state, name, result.get("exit_code"), message)


def ended(state: str) -> bool:
    """Whether a container whose task is in ``state`` (a task state's name) has ended,
    or is unknown to the master."""
    return state == "TASK_UNKNOWN" or is_terminal(common_pb2.TaskState.Value(state))
