"""Cron ticks: which scheduled times are due, and which of them to run. Pure: the clock
is passed in as ``now`` (seconds since the epoch), so tests can walk through time.

An ISO 8601 interval schedule (``interval: R5/2026-03-08T20:00:00Z/PT2H``, see
``frameworks.batch.interval``) gives its ticks the same way and follows the same
catch-up, deadline and exactly-once rules.

Times are evaluated in the schedule's time zone (``zoneinfo``), as cron does:

- a time that does not exist (spring forward, 02:30 on the night clocks jump from 02:00
  to 03:00) runs once, at the first time after it (03:00);
- a time that exists twice (fall back) runs once, at its first occurrence, when the
  schedule names hours; schedules that run every hour (hour field ``*``) run at both,
  since an hour of real time separates them.

Catch-up, for ticks that were due while the framework was not running:

- ``all`` (the default): run each of them (the most recent ``MAX_CATCH_UP``);
- ``latest``: run only the most recent one;
- ``none``: run only a tick that is at most ``ON_TIME_GRACE`` seconds late.

A tick later than ``starting_deadline`` is never run, whatever the catch-up policy.
The ticks not run are returned as ``missed``: the framework records them in the run
history (state SKIPPED, with the reason), so every due tick shows there once.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from croniter import croniter

from frameworks.batch.interval import interval_due, interval_next
from frameworks.batch.spec import Schedule

__all__ = ["MAX_CATCH_UP", "ON_TIME_GRACE", "TickPlan", "due_ticks", "next_tick", "plan_ticks"]

MAX_CATCH_UP = 100
ON_TIME_GRACE = 10.0


@dataclass
class TickPlan:
    """What to do at ``now``: ticks to run, ticks given up, and the new ``last_tick``."""

    run: list[float] = field(default_factory=list)
    missed: list[float] = field(default_factory=list)
    last_tick: float = 0.0


def _zone(schedule: Schedule) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(schedule.timezone)


def _iterate(schedule: Schedule, start: dt.datetime) -> croniter:
    return croniter(schedule.expression, start, second_at_beginning=schedule.seconds)


def _repeated_wall_time(schedule: Schedule, tick: float) -> bool:
    """Whether ``tick`` is the second occurrence of a wall time the schedule names by hour."""
    local = dt.datetime.fromtimestamp(tick, _zone(schedule))
    return local.fold == 1 and schedule.hour_field != "*"


def due_ticks(
    schedule: Schedule, last: float, now: float, limit: int = MAX_CATCH_UP + 1
) -> list[float]:
    """Ticks in ``(last, now]``, oldest first; at most the ``limit`` most recent."""
    if schedule.interval is not None:
        return interval_due(schedule.interval, schedule.timezone, last, now, limit)
    zone = _zone(schedule)
    # One second past now: croniter's get_prev is exclusive of its start.
    it = _iterate(schedule, dt.datetime.fromtimestamp(now + 1, zone))
    ticks: list[float] = []
    while len(ticks) < limit:
        tick = float(it.get_prev(dt.datetime).timestamp())
        if tick > now:
            continue
        if tick <= last:
            break
        if not _repeated_wall_time(schedule, tick):
            ticks.append(tick)
    return sorted(ticks)


def next_tick(schedule: Schedule, after: float) -> float | None:
    """The first tick strictly after ``after`` (None: an interval's repetitions are over)."""
    if schedule.interval is not None:
        return interval_next(schedule.interval, schedule.timezone, after)
    it = _iterate(schedule, dt.datetime.fromtimestamp(after, _zone(schedule)))
    while True:
        tick = float(it.get_next(dt.datetime).timestamp())
        if tick > after and not _repeated_wall_time(schedule, tick):
            return tick


def plan_ticks(schedule: Schedule, last: float, now: float) -> TickPlan:
    """Decide which ticks due since ``last`` run now, following catch-up and deadline."""
    due = due_ticks(schedule, last, now)
    plan = TickPlan(last_tick=max([last, *due]))
    eligible = []
    for tick in due:
        late = now - tick
        if schedule.starting_deadline is not None and late > schedule.starting_deadline:
            plan.missed.append(tick)
        else:
            eligible.append(tick)
    if schedule.catch_up == "all":
        plan.run = eligible[-MAX_CATCH_UP:]
        plan.missed += eligible[:-MAX_CATCH_UP]
    elif schedule.catch_up == "latest":
        plan.run = eligible[-1:]
        plan.missed += eligible[:-1]
    else:
        on_time = [t for t in eligible[-1:] if now - t <= ON_TIME_GRACE]
        plan.run = on_time
        plan.missed += [t for t in eligible if t not in on_time]
    plan.missed.sort()
    return plan
