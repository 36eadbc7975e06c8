"""Pure transitions of an app's desired state: new versions, deployments, rollbacks, backoff.

Every function takes an ``AppRecord`` (and ``now``) and returns a new one; the scheduler
stores the result. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from frameworks.service.model import (
    CANCELLED,
    FAILED,
    MAX_HISTORY,
    MAX_VERSIONS,
    PAUSED,
    ROLLED_BACK,
    RUNNING,
    SUCCEEDED,
    SUPERSEDED,
    AppRecord,
    Deployment,
)
from frameworks.service.spec import AppSpec


class DeploymentError(ValueError):
    """A request that cannot apply to the app's current state (the message says why)."""


def new_app(spec: AppSpec, now: float) -> AppRecord:
    """A first deploy: version v1 and a deployment to it."""
    app = AppRecord(id=spec.id, versions={"v1": spec}, version_times={"v1": now}, current="v1")
    return _start(app, "deploy", "", "v1", now)


def _start(
    app: AppRecord,
    kind: str,
    from_version: str,
    to_version: str,
    now: float,
    auto_rollback: bool = True,
) -> AppRecord:
    history = app.history
    if app.deployment is not None:
        old = app.deployment
        if old.active:
            old = replace(
                old,
                status=SUPERSEDED,
                finished_at=now,
                message=f"superseded by a {kind} to {to_version}",
            )
        history = (*history, old)[-MAX_HISTORY:]
    spec = app.versions[to_version]
    deployment = Deployment(
        id=uuid.uuid4().hex[:12],
        app_id=app.id,
        kind=kind,
        from_version=from_version,
        to_version=to_version,
        started_at=now,
        deadline=now + spec.upgrade.progress_deadline,
        auto_rollback=auto_rollback and spec.upgrade.auto_rollback,
    )
    # A new deployment starts with a clean slate for backoff and the restart limit.
    return app.with_(
        current=to_version,
        deployment=deployment,
        history=history,
        failures=0,
        delay_until=0.0,
        restarts=0,
    )


def _add_version(app: AppRecord, spec: AppSpec, now: float) -> tuple[AppRecord, str]:
    version = f"v{app.next_version}"
    versions = {**app.versions, version: spec}
    times = {**app.version_times, version: now}
    # Keep the newest versions, but never drop the current or last healthy one.
    keep = {app.current, app.last_healthy, version}
    while len(versions) > MAX_VERSIONS:
        oldest = next(v for v in versions if v not in keep)
        del versions[oldest]
        del times[oldest]
    return app.with_(
        versions=versions, version_times=times, next_version=app.next_version + 1
    ), version


def update(app: AppRecord, spec: AppSpec, now: float, kind: str = "deploy") -> AppRecord:
    """A new version of the app and a deployment to it (an undeleted app, if deleting)."""
    if spec.id != app.id:
        raise DeploymentError(f"spec id {spec.id!r} is not app {app.id!r}")
    if spec.to_dict() == app.spec.to_dict() and not app.deleting:
        raise DeploymentError(f"app {app.id!r} already runs this spec (version {app.current})")
    app, version = _add_version(app.with_(deleting=False), spec, now)
    return _start(app, kind, app.current, version, now)


def scale(app: AppRecord, instances: int, now: float) -> AppRecord:
    if instances < 0:
        raise DeploymentError("instances must be >= 0")
    if app.deleting:
        raise DeploymentError(f"app {app.id!r} is being deleted")
    if instances == app.spec.instances:
        raise DeploymentError(f"app {app.id!r} already has {instances} instances")
    return update(app, replace(app.spec, instances=instances), now, "scale")


def scaling(instances: int) -> Callable[[AppRecord, float], AppRecord]:
    """A user's scale to ``instances``, as a transition of (app, now)."""
    return lambda app, now: scale(app, instances, now)


def rolling_back(version: str) -> Callable[[AppRecord, float], AppRecord]:
    """A user's rollback to ``version``, as a transition of (app, now)."""
    return lambda app, now: rollback(app, version, now, f"rolled back to {version} by a user")


def restart(app: AppRecord, now: float) -> AppRecord:
    """A rolling restart: same spec, new nonce, so every instance is replaced."""
    if app.deleting:
        raise DeploymentError(f"app {app.id!r} is being deleted")
    spec = replace(app.spec, restart_nonce=app.spec.restart_nonce + 1)
    return update(app, spec, now, "restart")


def rollback(
    app: AppRecord, version: str, now: float, reason: str = "", automatic: bool = False
) -> AppRecord:
    """Deploy an earlier kept version again (keeping the current instance count unless
    the rollback is automatic, which restores the version as it was)."""
    if version not in app.versions:
        kept = ", ".join(app.versions)
        raise DeploymentError(f"app {app.id!r} has no version {version!r} (kept: {kept})")
    if version == app.current:
        raise DeploymentError(f"app {app.id!r} already runs version {version}")
    failed = app.current
    app = _finish(app, ROLLED_BACK, now, reason or f"rolled back to {version}")
    history = app.history
    app = _start(app, "rollback", failed, version, now, auto_rollback=False)
    deployment = app.deployment
    assert deployment is not None
    if reason:
        deployment = replace(deployment, message=reason)
    failed_versions = app.failed_versions
    if automatic and failed not in failed_versions:
        failed_versions = (*failed_versions, failed)
    return app.with_(deployment=deployment, history=history, failed_versions=failed_versions)


def delete(app: AppRecord, now: float) -> AppRecord:
    """Start a graceful delete: every instance is stopped, then the app is forgotten."""
    app = _finish(app, CANCELLED, now, "the app is being deleted")
    return app.with_(deleting=True)


def pause(app: AppRecord, now: float) -> AppRecord:
    d = _active(app)
    if d.status == PAUSED:
        raise DeploymentError(f"the deployment of {app.id!r} is already paused")
    return app.with_(deployment=replace(d, status=PAUSED, message="paused by a user"))


def resume(app: AppRecord, now: float) -> AppRecord:
    d = _active(app)
    if d.status != PAUSED:
        raise DeploymentError(f"the deployment of {app.id!r} is not paused")
    spec = app.versions[d.to_version]
    return app.with_(
        deployment=replace(
            d, status=RUNNING, message="", deadline=now + spec.upgrade.progress_deadline
        )
    )


def cancel(app: AppRecord, now: float) -> AppRecord:
    """Cancel the running deployment by rolling back to the version it started from."""
    d = _active(app)
    if not d.from_version or d.from_version not in app.versions:
        raise DeploymentError(f"the deployment of {app.id!r} has no earlier version to go back to")
    app = app.with_(deployment=replace(d, status=CANCELLED))
    return rollback(app, d.from_version, now, f"cancelled; back to {d.from_version}")


def abandon(app: AppRecord, now: float) -> AppRecord:
    """Stop the running deployment where it is: no rollback; the app keeps its version
    (Marathon's forced deployment delete)."""
    _active(app)
    return _finish(app, CANCELLED, now, "stopped by a user")


def _active(app: AppRecord) -> Deployment:
    if app.deployment is None or not app.deployment.active:
        raise DeploymentError(f"app {app.id!r} has no deployment in progress")
    return app.deployment


def _finish(app: AppRecord, status: str, now: float, message: str) -> AppRecord:
    d = app.deployment
    if d is None:
        return app
    if d.active:
        d = replace(d, status=status, finished_at=now, message=message or d.message)
    return app.with_(deployment=None, history=(*app.history, d)[-MAX_HISTORY:])


def succeed(app: AppRecord, now: float) -> AppRecord:
    """The deployment reached its target: its version is now the last healthy one."""
    d = app.deployment
    assert d is not None
    app = _finish(app, SUCCEEDED, now, "")
    failed = tuple(v for v in app.failed_versions if v != d.to_version)
    return app.with_(last_healthy=d.to_version, failed_versions=failed)


def fail(app: AppRecord, now: float, message: str) -> AppRecord:
    """The deployment missed its deadline with nothing to roll back to; the controller
    keeps converging on the version, and the failure is reported."""
    return _finish(app, FAILED, now, message)


# ---------------------------------------------------------------- backoff


def backoff_delay(spec: AppSpec, failures: int) -> float:
    """Seconds to wait before the next launch after ``failures`` consecutive failures."""
    if failures <= 0:
        return 0.0
    b = spec.backoff
    return float(min(b.max_delay, b.seconds * b.factor ** (failures - 1)))


def instance_failed(app: AppRecord, version: str, now: float) -> AppRecord:
    """An instance ended (or was given up on) without being asked to: back off, count it
    against the restart limit and, if it runs the deployment's version, against it."""
    failures = app.failures + 1
    delay_until = now + backoff_delay(app.spec, failures)
    d = app.deployment
    if d is not None and d.active and d.to_version == version:
        d = replace(d, failures=d.failures + 1)
    return app.with_(
        failures=failures, delay_until=delay_until, restarts=app.restarts + 1, deployment=d
    )


def instance_healthy(app: AppRecord) -> AppRecord:
    """An instance became healthy: the app is not crash-looping, stop backing off."""
    if app.failures == 0 and app.delay_until == 0.0:
        return app
    return app.with_(failures=0, delay_until=0.0)
