"""The controller: desired state + observed instances + now -> actions. Pure.

``plan(app, instances, now)`` says how many instances of the app's current version to
launch, which instances to kill and why, and returns the app record with its deployment
moved on (progress, success, automatic rollback). The scheduler carries the plan out and
calls ``plan`` again whenever something changes (and on a timer).

The rules, in the order they apply:

1. Unreachable instances count as running until ``inactiveAfterSeconds``; then they are
   replaced, killed if they come back, and forgotten after ``expungeAfterSeconds``.
2. An instance runs the current version if its version's ``config_key`` equals the
   current one's (so scaling restarts nothing).
3. A rolling update keeps at most ``n + maxSurge`` instances and at least
   ``n - maxUnavailable`` available ones (running, healthy if checked, ready).
4. Replace before kill: an instance failing its health checks (unhealthy for
   ``maxConsecutiveFailures`` intervals) gets a replacement first and is killed only once
   enough instances are available without it. During a deployment, failing instances of
   the new version are killed at once and count against it.
5. Circuit breaker: when more than ``maxUnhealthyShare`` of the instances are unhealthy at
   once, health-driven replacements and kills stop (the outage is reported, not amplified).
6. Launches wait for the backoff after failures and stop at ``maxRestarts``.
7. A deployment succeeds when only current instances run, ``n`` of them available. Without
   progress for ``progressDeadlineSeconds``, or after ``rollbackAfterFailures`` failed
   instances, it rolls back to the last healthy version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from frameworks.service import deployment
from frameworks.service.model import RUNNING, AppRecord, Instance
from frameworks.service.spec import AppSpec, HealthCheckSpec, surge_and_unavailable


@dataclass(frozen=True)
class Kill:
    """Stop an instance; ``failure`` counts it as a failure of its version (backoff,
    rollback), as for health-driven kills."""

    task_id: str
    reason: str
    failure: bool = False


@dataclass(frozen=True)
class Plan:
    app: AppRecord  # the record, deployment moved on; store it if it changed
    launch: int = 0  # new instances of app.current to start now
    kills: tuple[Kill, ...] = ()
    inactive: tuple[str, ...] = ()  # unreachable too long: replaced from now on
    expunge: tuple[str, ...] = ()  # unreachable for good: forget them
    wait_until: float | None = None  # launches held back until then (backoff)
    notes: tuple[str, ...] = ()  # what a user should know (breaker open, limit reached)
    forget: bool = False  # deleted, and no instance is left: remove the app


def plan(app: AppRecord, instances: Iterable[Instance], now: float) -> Plan:
    """What to do for ``app`` now, given its observed ``instances``."""
    mine = [i for i in instances if i.app_id == app.id]
    if app.deleting and not mine:
        return Plan(app, forget=True)
    spec = app.spec
    n = 0 if app.deleting else spec.instances
    kills: list[Kill] = []
    inactive: list[str] = []
    expunge: list[str] = []
    live: list[Instance] = []
    for i in mine:
        strategy = _spec_of(app, i).unreachable
        since = i.unreachable_since if i.unreachable_since is not None else now
        if i.killing:
            continue
        if i.inactive:
            if i.state != "unreachable":
                kills.append(Kill(i.task_id, "came back after it was replaced"))
            elif now - since >= strategy.expunge_after:
                expunge.append(i.task_id)
        elif i.state == "unreachable" and now - since >= strategy.inactive_after:
            inactive.append(i.task_id)
        else:
            live.append(i)

    key = spec.config_key()
    cur = [i for i in live if _spec_of(app, i).config_key() == key and i.version in app.versions]
    old = [i for i in live if i not in cur]
    d = app.deployment
    rolling_out = d is not None and d.active
    paused = d is not None and d.status != RUNNING and d.active

    notes: list[str] = []
    unhealthy = [i for i in live if _spec_of(app, i).checked and i.healthy is False]
    breaker_open = bool(unhealthy) and len(unhealthy) > spec.max_unhealthy_share * len(live)
    failed = [] if breaker_open else [i for i in cur if _failed(app, i, now)]
    if breaker_open:
        notes.append(
            f"circuit breaker open: {len(unhealthy)} of {len(live)} instances unhealthy; "
            "health-driven replacement paused"
        )
    new_failed = [i for i in failed if rolling_out and d is not None and i.version == d.to_version]
    steady_failed = [i for i in failed if i not in new_failed]
    kills += [
        Kill(i.task_id, "failed health checks during its deployment", True) for i in new_failed
    ]
    cur_ok = [i for i in cur if i not in failed]
    cur_avail = [i for i in cur_ok if _available(app, i)]
    old_avail = [i for i in old if _available(app, i)]
    surge, unavailable = surge_and_unavailable(spec.upgrade, n, spec.resident)

    # Launches: up to n healthy-or-starting current instances, within the surge.
    total = len(cur) - len(new_failed) + len(old)
    cap = n + (surge if old else 0) + len(steady_failed)
    launch = max(0, min(n - len(cur_ok), cap - total))
    wait_until = None
    if launch and paused:
        launch = 0
    if launch and spec.max_restarts is not None and app.failures >= spec.max_restarts:
        notes.append(f"restart limit reached: {app.failures} failures in a row; not relaunching")
        launch = 0
    if launch and now < app.delay_until:
        notes.append(
            f"backing off after {app.failures} failures: next launch in "
            f"{app.delay_until - now:.1f}s"
        )
        wait_until = app.delay_until
        launch = 0

    if not paused:
        # Old instances: those not serving go at once; serving ones while enough stay.
        kills += [Kill(i.task_id, "replaced by a newer version") for i in old if i not in old_avail]
        available = len(cur_avail) + len(old_avail)
        for i in _kill_order(old_avail, spec):
            if available - 1 < n - unavailable:
                break
            kills.append(Kill(i.task_id, "replaced by a newer version"))
            available -= 1
    # Replace before kill: a failing instance goes once replacements are available.
    killable = len(cur_avail) - (n - len(steady_failed))
    for i in steady_failed[: max(0, killable)]:
        kills.append(Kill(i.task_id, "failed health checks; replaced", True))
    # Scale down: the extra ones, those not serving first.
    excess = len(cur_ok) - n
    if excess > 0:
        ordered = [i for i in _kill_order(cur_ok, spec) if i not in cur_avail]
        ordered += _kill_order(cur_avail, spec)
        kills += [Kill(i.task_id, "scaled down") for i in ordered[:excess]]

    result = Plan(
        app, launch, tuple(kills), tuple(inactive), tuple(expunge), wait_until, tuple(notes)
    )
    moved = _advance(app, n, cur, old, cur_avail, now)
    if moved is not app:
        # The deployment finished or rolled back: plan again for the new state.
        again = plan(moved, mine, now)
        return replace(again, notes=(*result.notes, *again.notes))
    return result


def _advance(
    app: AppRecord,
    n: int,
    cur: Sequence[Instance],
    old: Sequence[Instance],
    cur_avail: Sequence[Instance],
    now: float,
) -> AppRecord:
    d = app.deployment
    if d is None or d.status != RUNNING:
        return app
    spec = app.versions[d.to_version]
    if not old and len(cur) == n and len(cur_avail) >= n:
        return deployment.succeed(app, now)
    if len(cur_avail) > d.best_available:
        # Progress: the deadline counts from the last step forward, as in Kubernetes.
        d = replace(d, best_available=len(cur_avail), deadline=now + spec.upgrade.progress_deadline)
        return app.with_(deployment=d)
    can_roll_back = (
        d.auto_rollback
        and app.last_healthy
        and app.last_healthy != app.current
        and app.last_healthy in app.versions
    )
    reason = ""
    if now >= d.deadline:
        reason = (
            f"no progress for {spec.upgrade.progress_deadline:g}s "
            f"({len(cur_avail)}/{n} new instances available)"
        )
    elif d.failures >= spec.upgrade.rollback_after_failures:
        reason = f"{d.failures} instances of {d.to_version} failed"
        if not can_roll_back:
            return app  # keep trying (with backoff) until the deadline says otherwise
    if not reason:
        return app
    if can_roll_back:
        return deployment.rollback(
            app, app.last_healthy, now, f"{reason}; rolled back to {app.last_healthy}", True
        )
    return deployment.fail(app, now, reason)


def _spec_of(app: AppRecord, i: Instance) -> AppSpec:
    return app.versions.get(i.version, app.spec)


def _available(app: AppRecord, i: Instance) -> bool:
    if i.state != "running" or not i.ready:
        return False
    return i.healthy is True or not _spec_of(app, i).checked


def _failed(app: AppRecord, i: Instance, now: float) -> bool:
    spec = _spec_of(app, i)
    if not i.containers:
        return _failing(spec.health_check, i.healthy, i.unhealthy_since, now)
    # A pod's instance fails when one of its containers fails its own check long enough.
    return any(
        _failing(pod.health_check, c.healthy, c.unhealthy_since, now)
        for c in i.containers
        if c.counts and not c.ended and (pod := spec.pod_container(c.name)) is not None
    )


def _failing(
    check: HealthCheckSpec | None, healthy: bool | None, since: float | None, now: float
) -> bool:
    if check is None or healthy is not False or since is None:
        return False
    if check.max_failures == 0:
        return False  # Marathon's 0: failing checks never get an instance replaced
    return now - since >= check.interval * (check.max_failures - 1)


def _kill_order(instances: Iterable[Instance], spec: AppSpec) -> list[Instance]:
    youngest_first = spec.kill_selection == "YOUNGEST_FIRST"
    return sorted(instances, key=lambda i: i.launched_at, reverse=youngest_first)
