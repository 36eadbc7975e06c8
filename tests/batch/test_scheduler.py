"""The scheduler's bookkeeping with an injected clock and a real store, no cluster:
ticks become runs (or recorded misses) exactly once, also across a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from frameworks.batch.scheduler import BatchScheduler
from mesospy.scheduler.state import DirectoryStore

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, on a minute


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def job(catch_up: str, concurrency: str = "Allow") -> str:
    return (
        "name: minutely\ncommand: 'true'\n"
        f"schedule: {{cron: '* * * * *', catch_up: {catch_up}, concurrency: {concurrency}}}\n"
    )


def stored(scheduler: BatchScheduler) -> None:
    asyncio.run(scheduler.commit())


def states(scheduler: BatchScheduler) -> list[tuple[str, str]]:
    return [(r.id, r.state) for r in scheduler.run_history("minutely")]


def test_missed_ticks_are_recorded_once_and_a_restart_changes_nothing(tmp_path: Path) -> None:
    clock = Clock(T0 + 5)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit(job("latest"))
    clock.now = T0 + 10 * 60 + 3  # ten ticks fell due while "down"
    scheduler.tick()
    history = states(scheduler)
    assert len(history) == 10
    assert [s for _, s in history] == ["SKIPPED"] * 9 + ["PENDING"]
    assert history[0][0] == "s20270115T080100Z" and history[-1][0] == "s20270115T081000Z"
    assert "catch_up: latest" in scheduler.run_history("minutely")[0].message
    stored(scheduler)
    # A new process on the same store: the same history, and the same ticks are not redone.
    again = BatchScheduler(DirectoryStore(tmp_path), clock)
    again.tick()
    assert states(again) == history
    clock.now += 60
    again.tick()
    assert states(again)[-1] == ("s20270115T081100Z", "PENDING")
    assert len(states(again)) == 11


def test_catch_up_all_runs_every_missed_tick(tmp_path: Path) -> None:
    clock = Clock(T0 + 5)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit(job("all"))
    clock.now = T0 + 3 * 60 + 1
    scheduler.tick()
    assert [s for _, s in states(scheduler)] == ["PENDING"] * 3


def test_forbid_skips_a_tick_while_a_run_is_active(tmp_path: Path) -> None:
    clock = Clock(T0 + 5)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit(job("all", "Forbid"))
    clock.now = T0 + 60
    scheduler.tick()
    clock.now = T0 + 120
    scheduler.tick()
    assert [s for _, s in states(scheduler)] == ["PENDING", "SKIPPED"]
    assert "still active (Forbid)" in scheduler.run_history("minutely")[1].message


def test_a_suspended_schedule_records_nothing_and_resumes_at_the_next_tick(
    tmp_path: Path,
) -> None:
    clock = Clock(T0 + 5)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit(job("all"))
    scheduler.set_suspended("minutely", True)
    clock.now = T0 + 5 * 60 + 1
    scheduler.tick()
    assert states(scheduler) == []
    scheduler.set_suspended("minutely", False)
    clock.now = T0 + 6 * 60 + 1
    scheduler.tick()
    assert states(scheduler) == [("s20270115T080600Z", "PENDING")]


def test_a_schedule_added_later_starts_from_then(tmp_path: Path) -> None:
    clock = Clock(T0 + 5)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit("name: minutely\ncommand: 'true'\n")
    clock.now = T0 + 30 * 60 + 5
    scheduler.submit(job("all"))  # no catch-up of the half hour without a schedule
    clock.now = T0 + 31 * 60 + 1
    scheduler.tick()
    assert states(scheduler) == [("s20270115T083100Z", "PENDING")]


def test_active_attempts_are_reconciled_periodically(tmp_path: Path) -> None:
    """Every interval, the active attempts (not the ones just launched: their launch may
    still be on its way) are due for explicit reconciliation; a lost launch answered
    TASK_UNKNOWN is then launched again as the next attempt."""
    clock = Clock(T0)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock, reconcile_interval=60)
    scheduler.submit("name: work\ncommand: 'sleep 100'\ninstances: 3\n")
    run = scheduler.run_now("work")
    old, recent, waiting = run.instances
    assert scheduler.reconciliation_due(clock.now) == []  # nothing active yet
    clock.now = T0 + 1
    old_task = run.launching(old, "agent-1", clock.now)
    clock.now = T0 + 55
    assert scheduler.reconciliation_due(clock.now) is None  # not due before T0 + 60
    clock.now = T0 + 58
    run.launching(recent, "agent-2", clock.now)
    clock.now = T0 + 60
    assert scheduler.reconciliation_due(clock.now) == [(old_task, "agent-1")]
    assert scheduler.reconciliation_due(clock.now + 59) is None  # once per interval
    clock.now = T0 + 120
    due = scheduler.reconciliation_due(clock.now)
    assert due is not None and sorted(due) == [
        (old_task, "agent-1"), (run.task_id(recent), "agent-2"),
    ]  # fmt: skip
    # The master never heard of the old one: it is launched again, under a new task id.
    spec = scheduler.job("work").spec
    run.task_update(spec, old.index, old.attempt, "TASK_UNKNOWN", clock.now)
    assert old.state == "WAITING" and old.attempt == 1
    assert old in run.launchable(clock.now) and waiting in run.launchable(clock.now)
    clock.now = T0 + 180
    assert scheduler.reconciliation_due(clock.now) == [(run.task_id(recent), "agent-2")]


def test_periodic_reconciliation_can_be_turned_off(tmp_path: Path) -> None:
    clock = Clock(T0)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock, reconcile_interval=0)
    scheduler.submit("name: work\ncommand: 'sleep 100'\n")
    run = scheduler.run_now("work")
    run.launching(run.instances[0], "agent-1", clock.now)
    clock.now += 3600
    assert scheduler.reconciliation_due(clock.now) is None
