"""When `mesospy local` brings back a bundled framework that keeps dying (pure)."""

from __future__ import annotations

import itertools
import random

from mesospy.cli.local import FrameworkRestarts


def test_restarts_back_off_while_it_keeps_dying_and_start_afresh_once_it_stayed_up() -> None:
    restarts = FrameworkRestarts(random.Random(7))
    now = 0.0
    delays = []
    for _ in range(8):  # dies right after every restart
        due = restarts.due("batch", now)
        assert restarts.waiting("batch")
        assert restarts.due("batch", now + 0.1) == due  # asked again: the same answer
        delays.append(due - now)
        now = due
        restarts.restarted("batch", now)
        now += 1.0
    assert delays[0] <= 1.0
    assert all(b >= a / 2 for a, b in itertools.pairwise(delays))  # jittered doubling
    assert 30.0 <= max(delays) <= 60.0  # capped at a minute
    # Up for a minute since its last restart: the next crash is treated as a first one.
    now += FrameworkRestarts.STABLE_SECONDS
    assert restarts.due("batch", now) - now <= 1.0
    # Each framework has its own backoff.
    assert restarts.due("service", now) - now <= 1.0
