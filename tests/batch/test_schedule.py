"""Cron ticks with an injected clock: time zones, daylight-saving changes, catch-up."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from frameworks.batch.schedule import MAX_CATCH_UP, due_ticks, next_tick, plan_ticks
from frameworks.batch.spec import Schedule

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
