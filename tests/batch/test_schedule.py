"""Cron ticks with an injected clock: time zones, daylight-saving changes, catch-up."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from frameworks.batch.schedule import MAX_CATCH_UP, due_ticks, next_tick, plan_ticks
from frameworks.batch.spec import Schedule, SpecError, parse_spec

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def local(tick: float, tz: dt.tzinfo = BERLIN) -> str:
    return dt.datetime.fromtimestamp(tick, tz).strftime("%Y-%m-%d %H:%M %Z")


def test_ticks_follow_the_time_zone() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = due_ticks(daily, at(2026, 1, 10, 0, 0), at(2026, 1, 12, 12, 0))
    # 02:30 in Berlin in winter is 01:30 UTC.
    assert ticks == [at(2026, 1, 10, 1, 30), at(2026, 1, 11, 1, 30), at(2026, 1, 12, 1, 30)]


def test_spring_forward_runs_a_missing_time_once_just_after() -> None:
    # 2026-03-29: Berlin clocks jump from 02:00 to 03:00; 02:30 does not exist.
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = due_ticks(daily, at(2026, 3, 28, 0, 0), at(2026, 3, 31, 0, 0))
    assert [local(t) for t in ticks] == [
        "2026-03-28 02:30 CET",
        "2026-03-29 03:00 CEST",
        "2026-03-30 02:30 CEST",
    ]


def test_fall_back_runs_a_repeated_time_once() -> None:
    # 2026-10-25: Berlin clocks go back from 03:00 to 02:00; 02:30 happens twice.
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = due_ticks(daily, at(2026, 10, 24, 0, 0), at(2026, 10, 27, 0, 0))
    assert [local(t) for t in ticks] == [
        "2026-10-24 02:30 CEST",
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]


def test_fall_back_keeps_both_hours_of_an_hourly_schedule() -> None:
    half_hourly = Schedule(cron="*/30 * * * *", timezone="Europe/Berlin")
    ticks = due_ticks(half_hourly, at(2026, 10, 24, 23, 45), at(2026, 10, 25, 1, 45))
    # Every 30 minutes of real time, through the repeated hour.
    assert ticks == [at(2026, 10, 25, 0, 0) + 1800 * n for n in range(4)]
    assert [local(t) for t in ticks] == [
        "2026-10-25 02:00 CEST",
        "2026-10-25 02:30 CEST",
        "2026-10-25 02:00 CET",
        "2026-10-25 02:30 CET",
    ]


def test_next_tick_crosses_a_daylight_saving_change() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    assert local(next_tick(daily, at(2026, 3, 28, 12, 0))) == "2026-03-29 03:00 CEST"
    assert local(next_tick(daily, at(2026, 10, 25, 0, 45))) == "2026-10-26 02:30 CET"


def test_seconds_field_for_fine_schedules() -> None:
    every_two = Schedule(cron="* * * * * */2")
    assert due_ticks(every_two, at(2026, 1, 1, 0, 0, 0), at(2026, 1, 1, 0, 0, 7)) == [
        at(2026, 1, 1, 0, 0, s) for s in (2, 4, 6)
    ]


def test_a_tick_on_time_runs_under_every_policy() -> None:
    for policy in ("none", "latest", "all"):
        hourly = Schedule(cron="0 * * * *", catch_up=policy)
        plan = plan_ticks(hourly, at(2026, 1, 1, 9, 30), at(2026, 1, 1, 10, 0, 2))
        assert plan.run == [at(2026, 1, 1, 10, 0)]
        assert plan.missed == []
        assert plan.last_tick == at(2026, 1, 1, 10, 0)


def test_catch_up_after_downtime() -> None:
    last, now = at(2026, 1, 1, 6, 30), at(2026, 1, 1, 10, 20)  # down for 4 hourly ticks
    due = [at(2026, 1, 1, h, 0) for h in (7, 8, 9, 10)]
    plan = plan_ticks(Schedule(cron="0 * * * *", catch_up="all"), last, now)
    assert (plan.run, plan.missed) == (due, [])
    plan = plan_ticks(Schedule(cron="0 * * * *", catch_up="latest"), last, now)
    assert (plan.run, plan.missed) == (due[-1:], due[:-1])
    plan = plan_ticks(Schedule(cron="0 * * * *", catch_up="none"), last, now)
    assert (plan.run, plan.missed) == ([], due)
    assert plan.last_tick == due[-1]


def test_starting_deadline_drops_ticks_too_late_to_start() -> None:
    schedule = Schedule(cron="0 * * * *", catch_up="all", starting_deadline=45 * 60)
    plan = plan_ticks(schedule, at(2026, 1, 1, 6, 30), at(2026, 1, 1, 10, 20))
    assert plan.run == [at(2026, 1, 1, 10, 0)]  # 20 minutes late: within the deadline
    assert plan.missed == [at(2026, 1, 1, h, 0) for h in (7, 8, 9)]


def test_catch_up_all_is_bounded() -> None:
    schedule = Schedule(cron="* * * * *", catch_up="all")
    plan = plan_ticks(schedule, at(2026, 1, 1, 0, 0), at(2026, 1, 2, 0, 0, 30))
    assert len(plan.run) == MAX_CATCH_UP
    assert plan.run[-1] == at(2026, 1, 2, 0, 0)
    assert plan.last_tick == at(2026, 1, 2, 0, 0)


def test_nothing_due_keeps_the_last_tick() -> None:
    plan = plan_ticks(Schedule(cron="0 * * * *"), at(2026, 1, 1, 10, 0), at(2026, 1, 1, 10, 30))
    assert (plan.run, plan.missed, plan.last_tick) == ([], [], at(2026, 1, 1, 10, 0))


def _job(schedule: object) -> object:
    return {"name": "tick", "command": "true", "schedule": schedule}


def test_cron_macros_fire_as_their_fields() -> None:
    start, end = at(2026, 1, 1, 0, 30), at(2026, 1, 1, 3, 0)
    hourly = parse_spec(_job("@hourly")).schedule
    assert hourly is not None
    assert due_ticks(hourly, start, end) == [at(2026, 1, 1, h) for h in (1, 2, 3)]
    for macro, fields in (("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
                          ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"),
                          ("@yearly", "0 0 1 1 *"), ("@Annually", "0 0 1 1 *")):  # fmt: skip
        spec = parse_spec(_job({"cron": macro}))
        assert spec.schedule is not None and spec.schedule.expression == fields, macro
        after = at(2026, 3, 14, 12)
        assert next_tick(spec.schedule, after) == next_tick(Schedule(cron=fields), after)


def test_six_fields_are_refused_unless_the_spec_says_they_start_with_seconds() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_job({"cron": "0 0 * * * *"}))
    ((path, message),) = caught.value.problems
    assert path == "schedule.cron" and "seconds: true" in message
    # Seconds first (Quartz's order): 0 0 * * * * is every hour on the hour, not every
    # second of the midnight minute.
    spec = parse_spec(_job({"cron": "0 0 * * * *", "seconds": True}))
    assert spec.schedule is not None and spec.schedule.seconds
    ticks = due_ticks(spec.schedule, at(2026, 1, 1, 0, 0, 30), at(2026, 1, 1, 2, 0, 0))
    assert ticks == [at(2026, 1, 1, 1), at(2026, 1, 1, 2)]
    assert parse_spec(spec.to_dict()) == spec  # the canonical form keeps seconds


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("@every 5m", "an interval"),
        ("@reboot", "is not one of"),
        ({"cron": "@daily", "seconds": True}, "no seconds field"),
        ({"cron": "0 0 * * *", "seconds": True}, "6 fields (seconds first)"),
        ({"cron": "0 0 * * *", "seconds": "yes"}, "true or false"),
        ("61 * * * *", "not a valid cron expression"),
    ],
)
def test_bad_schedules_say_why(schedule: object, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_job(schedule))
    assert any(words in message for _, message in caught.value.problems), caught.value.problems


# Daylight-saving behaviour (cronie's choice), Europe/Berlin, as a table:
# (cron, from, to (UTC), the local times it fires).
DST_TABLE = [
    # Spring forward 2026-03-29 02:00 -> 03:00: a missing time runs once, just after.
    ("30 2 * * *", at(2026, 3, 28, 12), at(2026, 3, 29, 12), ["2026-03-29 03:00 CEST"]),
    # An hourly schedule simply has one hour less that night.
    ("0 * * * *", at(2026, 3, 29, 0, 30), at(2026, 3, 29, 2, 30),
     ["2026-03-29 03:00 CEST", "2026-03-29 04:00 CEST"]),
    # Fall back 2026-10-25 03:00 -> 02:00: a named hour runs once, at its first occurrence...
    ("30 2 * * *", at(2026, 10, 24, 12), at(2026, 10, 25, 12), ["2026-10-25 02:30 CEST"]),
    # ... while an hourly schedule runs at both 02:00s, an hour of real time apart.
    ("0 * * * *", at(2026, 10, 24, 23, 30), at(2026, 10, 25, 1, 30),
     ["2026-10-25 02:00 CEST", "2026-10-25 02:00 CET"]),
]  # fmt: skip


@pytest.mark.parametrize(("cron", "start", "end", "expected"), DST_TABLE)
def test_daylight_saving_table(cron: str, start: float, end: float, expected: list[str]) -> None:
    schedule = Schedule(cron=cron, timezone="Europe/Berlin")
    assert [local(t) for t in due_ticks(schedule, start, end)] == expected
