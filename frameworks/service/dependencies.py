"""App dependencies (Marathon's ``dependencies``): pure checks over plain data.

An app naming dependencies launches nothing for a deployment until each of them runs all
its instances, available (running, healthy if checked, ready) at its current version with
no deployment of its own under way. Once deployed, its instances are replaced as any
app's are: dependencies order deployments, as in Marathon, not every relaunch. A
dependency must be an app already (deploy it first), and no cycle is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from frameworks.service.model import AppRecord, Instance


def problem(app_id: str, dependencies: Iterable[str], apps: Mapping[str, AppRecord]) -> str | None:
    """Why an app with these dependencies may not be deployed among ``apps`` (None: it may)."""
    for dep in dependencies:
        if dep == app_id:
            return f"app {app_id!r} cannot depend on itself"
        if dep not in apps or apps[dep].deleting:
            return f"dependency {dep!r} is not an app: deploy it first"
        cycle = _path(dep, app_id, apps, set())
        if cycle is not None:
            return "dependencies would make a cycle: " + " -> ".join([app_id, *cycle])
    return None


def _path(start: str, goal: str, apps: Mapping[str, AppRecord], seen: set[str]) -> list[str] | None:
    if start == goal:
        return [goal]
    if start in seen or start not in apps:
        return None
    seen.add(start)
    for dep in apps[start].spec.dependencies:
        rest = _path(dep, goal, apps, seen)
        if rest is not None:
            return [start, *rest]
    return None


def waiting_for(
    app: AppRecord, apps: Mapping[str, AppRecord], instances: Iterable[Instance]
) -> str | None:
    """The note while a deployment of ``app`` waits for a dependency (None: it need not)."""
    if not app.spec.dependencies or app.deployment is None or not app.deployment.active:
        return None
    available: dict[str, int] = {}
    for i in instances:
        if _available(apps.get(i.app_id), i):
            available[i.app_id] = available.get(i.app_id, 0) + 1
    for dep in app.spec.dependencies:
        other = apps.get(dep)
        if other is None:
            return f"waiting for dependency {dep!r}, which is gone"
        have, want = available.get(dep, 0), other.spec.instances
        busy = other.deployment is not None and other.deployment.active
        if busy or have < want:
            return f"waiting for dependency {dep!r} ({have}/{want} available)"
    return None


def _available(app: AppRecord | None, i: Instance) -> bool:
    if app is None or i.killing or i.inactive or i.state != "running" or not i.ready:
        return False
    if i.version != app.current:
        return False
    return i.healthy is True or not app.spec.checked
