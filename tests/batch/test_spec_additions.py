"""Native spec fields the foreign formats map onto: history limits and ttl, retries per
run, not_in and restart failure rules, index variables, ISO 8601 interval schedules."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from frameworks.batch.interval import parse_interval, parse_iso_duration
from frameworks.batch.schedule import due_ticks, next_tick, plan_ticks
from frameworks.batch.scheduler import BatchScheduler
from frameworks.batch.spec import SpecError, load_spec, parse_spec
from mesospy.scheduler.state import DirectoryStore

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_the_new_fields_round_trip_through_the_canonical_form() -> None:
    spec = load_spec(
        "name: j\ncommand: 'true'\nretries: {limit: 4, per: run}\nindex_env: IDX\n"
        "failure_policy: [{exit_codes: [0, 1], operator: not_in, action: restart}]\n"
        "history: {succeeded: 2, failed: 0, ttl: 1h}\n"
        "schedule: {interval: R3/2027-01-15T08:00:00Z/PT10M}\n"
    )
    assert spec.retries.per == "run" and spec.index_env == ("IDX",)
    assert spec.action_for(5) == "restart" and spec.action_for(1) == "retry"
    assert (spec.history.succeeded, spec.history.failed, spec.history.ttl) == (2, 0, 3600.0)
    assert spec.schedule is not None and spec.schedule.interval is not None
    assert spec.schedule.text == "R3/2027-01-15T08:00:00Z/PT10M"
    assert parse_spec(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("R0/2027-01-15T08:00:00Z/PT1H", "R0 never runs"),
        ("R/2027-01-15T08:00:00Z/PT0S", "at least 1 second"),
        ("R//PT1H", "start time is missing"),
        ("R/yesterday/PT1H", "not an ISO 8601 date"),
        ("R/2027-01-15T08:00:00Z/2h", "not an ISO 8601 duration"),
        ("X5/2027-01-15T08:00:00Z/PT1H", "must be R"),
    ],
)
def test_bad_intervals_say_why(schedule: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"name": "j", "command": "true", "schedule": {"interval": schedule}})
    assert words in dict(caught.value.problems)["schedule.interval"]


def schedule(interval: str, timezone: str = "UTC", **extra: object) -> object:
    spec = parse_spec(
        {"name": "j", "command": "true",
         "schedule": {"interval": interval, "timezone": timezone, **extra}}
    )  # fmt: skip
    assert spec.schedule is not None
    return spec.schedule


def test_interval_ticks_repeat_n_times_then_stop() -> None:
    s = schedule("R3/2027-01-15T08:00:00Z/PT10M")
    assert due_ticks(s, 0, T0 - 1) == []  # type: ignore[arg-type]
    ticks = due_ticks(s, 0, T0 + 3600)  # type: ignore[arg-type]
    assert ticks == [T0, T0 + 600, T0 + 1200]
    assert next_tick(s, T0 + 1) == T0 + 600  # type: ignore[arg-type]
    assert next_tick(s, T0 + 1200) is None  # type: ignore[arg-type]


def test_interval_forever_from_long_ago_is_computed_not_walked() -> None:
    s = schedule("R/2012-10-01T05:52:00Z/PT2S")
    now = T0 + 0.5
    ticks = due_ticks(s, now - 10, now)  # type: ignore[arg-type]
    assert len(ticks) == 5 and all((t - at("2012-10-01T05:52:00+00:00")) % 2 == 0 for t in ticks)
    assert next_tick(s, now) == ticks[-1] + 2  # type: ignore[arg-type]


def test_calendar_periods_follow_the_wall_clock_of_the_time_zone() -> None:
    # Daily at 02:30 Berlin time across the spring change (31 March 2030): a calendar day.
    s = schedule("R/2030-03-30T02:30:00/P1D", "Europe/Berlin")
    ticks = due_ticks(s, 0, at("2030-04-01T12:00:00+00:00"))  # type: ignore[arg-type]
    local = [dt.datetime.fromtimestamp(t, dt.UTC).isoformat() for t in ticks]
    assert local == [
        "2030-03-30T01:30:00+00:00",  # 02:30 CET
        "2030-03-31T01:30:00+00:00",  # 02:30 does not exist: the offset before the jump
        "2030-04-01T00:30:00+00:00",  # 02:30 CEST
    ]
    monthly = schedule("R4/2027-01-31T00:00:00Z/P1M")
    ticks = due_ticks(monthly, 0, at("2027-06-01T00:00:00+00:00"))  # type: ignore[arg-type]
    days = [dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat() for t in ticks]
    assert days == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]


def test_interval_ticks_follow_catch_up_and_the_starting_deadline() -> None:
    s = schedule("R/2027-01-15T08:00:00Z/PT1M", catch_up="latest", starting_deadline=90)
    plan = plan_ticks(s, T0 - 1, T0 + 5 * 60 + 1)  # type: ignore[arg-type]
    assert plan.run == [T0 + 300]
    assert plan.missed == [T0 + 60 * k for k in range(5)]
    assert plan.last_tick == T0 + 300


def test_iso_durations() -> None:
    assert parse_iso_duration("PT15M") == 900.0
    assert parse_iso_duration("P1DT1H30M5.5S") == 86400 + 5405.5
    with pytest.raises(ValueError, match="no fixed length"):
        parse_iso_duration("P1M")
    assert parse_interval("R5/2027-01-15T08:00:00.000Z/PT2H").repeat == 5


def finish(scheduler: BatchScheduler, name: str, outcome: str) -> None:
    run = scheduler.run_now(name)
    for instance in run.instances:
        run.launching(instance, "a1", scheduler.clock())
        run.task_update(scheduler.jobs[name].spec, instance.index, 0, outcome, scheduler.clock(),
                        exit_code=0 if outcome == "TASK_FINISHED" else 1)  # fmt: skip
    assert run.final


def test_history_keeps_the_latest_successes_and_failures_and_forgets_after_ttl(
    tmp_path: Path,
) -> None:
    clock = Clock(T0)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit("name: h\ncommand: 'true'\nhistory: {succeeded: 2, failed: 1, ttl: 1h}\n")
    for n in range(4):
        clock.now = T0 + n
        finish(scheduler, "h", "TASK_FINISHED")
        clock.now = T0 + 10 + n
        finish(scheduler, "h", "TASK_FAILED")
        scheduler.tick()
    kept = [(r.state, r.created) for r in scheduler.run_history("h")]
    assert kept == [("SUCCEEDED", T0 + 2), ("SUCCEEDED", T0 + 3), ("FAILED", T0 + 13)]
    asyncio.run(scheduler.commit())
    assert len(DirectoryStore(tmp_path).children("runs/h")) == 3
    clock.now = T0 + 13 + 3600
    scheduler.tick()
    assert scheduler.run_history("h") == []


def test_interval_ticks_run_exactly_once_across_a_restart(tmp_path: Path) -> None:
    clock = Clock(T0 - 30)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit(
        "name: every\ncommand: 'true'\n"
        "schedule: {interval: R4/2027-01-15T08:00:00Z/PT1M, catch_up: all}\n"
    )
    clock.now = T0 + 150  # three ticks due: 08:00, 08:01, 08:02
    scheduler.tick()
    ids = [r.id for r in scheduler.run_history("every")]
    assert ids == ["s20270115T080000Z", "s20270115T080100Z", "s20270115T080200Z"]
    asyncio.run(scheduler.commit())
    again = BatchScheduler(DirectoryStore(tmp_path), clock)
    again.tick()
    assert [r.id for r in again.run_history("every")] == ids
    clock.now = T0 + 3600  # the fourth, then no more: R4
    again.tick()
    assert [r.id for r in again.run_history("every")][3:] == ["s20270115T080300Z"]
