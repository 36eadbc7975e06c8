"""BurstLog: a line each for the first events of a second, one count for the rest."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mesospy.master.burst_log import BurstLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def infos(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


def test_a_burst_logs_its_first_events_then_one_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    burst = BurstLog(logging.getLogger("t"), "agents re-registered", per_second=3, clock=clock)
    for i in range(10):
        burst.event("agent %s re-registered", i)
    assert infos(caplog) == [f"agent {i} re-registered" for i in range(3)]
    clock.now += 0.5
    burst.flush()
    assert infos(caplog)[-1] == "... and 7 more agents re-registered in 0.5 s"
    burst.flush()  # nothing held: nothing more
    assert len(infos(caplog)) == 4


def test_a_new_second_logs_the_count_and_starts_afresh(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    burst = BurstLog(logging.getLogger("t"), "agents registered", per_second=1, clock=clock)
    burst.event("a")
    burst.event("b")
    clock.now += 1.0
    burst.event("c")
    assert infos(caplog) == ["a", "... and 1 more agents registered in 1.0 s", "c"]


def test_held_events_are_counted_a_second_later_without_another_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def burst_then_quiet() -> None:
        burst = BurstLog(logging.getLogger("t"), "agents registered", per_second=2)
        for i in range(5):
            burst.event("agent %s", i)
        debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "t"]
        assert [r.getMessage() for r in debug] == [
            "agent 2",
            "agent 3",
            "agent 4",
        ]
        deadline = asyncio.get_running_loop().time() + 5
        while not any("3 more" in m for m in infos(caplog)):
            assert asyncio.get_running_loop().time() < deadline, "no count logged"
            await asyncio.sleep(0.05)

    asyncio.run(burst_then_quiet())
    assert infos(caplog)[-1].startswith("... and 3 more agents registered in ")
