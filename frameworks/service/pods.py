"""A pod's instance as the sum of its containers: pure, plain data in and out.

An instance of a pod is one task group; each container is a task of it. The controller
only looks at the instance (state, health, since when unhealthy), so a container's status
update becomes the instance's state here:

- ``running`` once every container that counts runs (a sidecar that finished no longer
  counts), ``unreachable`` while one is, ``staging`` before;
- unhealthy when a container that counts fails its checks, healthy when every checked one
  passes, unknown until then;
- over (``ends``) when a container that counts ends: the default executor kills the rest
  of a group when one fails, and a main container finishing ends the instance too (a
  service is not meant to finish).
"""

from __future__ import annotations

from dataclasses import replace

from frameworks.service.model import ContainerState, Instance
from frameworks.service.spec import AppSpec


def new_containers(spec: AppSpec) -> tuple[ContainerState, ...]:
    """The containers of a new instance of ``spec``, none started yet."""
    return tuple(
        # A helper (a sidecar, or a prestart/poststart container) may finish.
        ContainerState(c.name, sidecar=not c.main, checked=c.health_check is not None)
        for c in spec.containers
    )


def observe(
    i: Instance,
    name: str,
    state: str,
    ended: bool,
    healthy: bool | None,
    message: str,
    now: float,
) -> tuple[Instance, bool]:
    """The instance after container ``name`` reported ``state`` (``healthy``: None when the
    update said nothing of health), and whether that ends the instance."""
    containers = []
    ends = False
    for c in i.containers:
        if c.name == name and not c.ended:
            c = replace(c, state=state, ended=ended, message=message)
            if healthy is True:
                c = replace(c, healthy=True, unhealthy_since=None)
            elif healthy is False and c.healthy is not False:
                c = replace(c, healthy=False, unhealthy_since=now)
            ends = ended and c.counts
        containers.append(c)
    i = replace(i, containers=tuple(containers))
    return _summed(i, now), ends


def _summed(i: Instance, now: float) -> Instance:
    counted = [c for c in i.containers if c.counts]
    if any(c.state == "unreachable" for c in counted):
        state = "unreachable"
    elif counted and all(c.state == "running" for c in counted):
        state = "running"
    else:
        state = "running" if i.state == "running" else "staging"
    i = replace(i, state=state)
    if state == "unreachable":
        if i.unreachable_since is None:
            i = replace(i, unreachable_since=now)
    elif i.unreachable_since is not None and not i.inactive:
        i = replace(i, unreachable_since=None)
    healthy = health(i)
    if healthy is True:
        i = replace(i, healthy=True, unhealthy_since=None)
    elif healthy is False and i.healthy is not False:
        i = replace(i, healthy=False, unhealthy_since=now)
    elif healthy is None:
        i = replace(i, healthy=None, unhealthy_since=None)
    return i


def health(i: Instance) -> bool | None:
    """False if a checked container that counts fails its checks, True when all of them
    pass, None while one has no result yet (or none is checked)."""
    checked = [c for c in i.containers if c.checked]
    if not checked:
        return None
    counted = [c for c in checked if c.counts]
    if any(c.healthy is False for c in counted):
        return False
    if all(c.healthy is True for c in counted):
        return True
    return None


def all_ended(i: Instance) -> bool:
    return all(c.ended for c in i.containers)
