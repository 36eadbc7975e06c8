"""Reconnection backoff."""

import random

import pytest

from mesospy.scheduler import Backoff


def test_delays_grow_jittered_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.1, cap=1.0, rng=random.Random(7))
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    for ceiling in ceilings:
        delay = backoff.next()
        assert ceiling / 2 <= delay <= ceiling


def test_reset_starts_over() -> None:
    backoff = Backoff(initial=0.1, cap=10.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next()
    assert backoff.ceiling == 10.0
    backoff.reset()
    assert backoff.next() <= 0.1


def test_same_seed_same_delays() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.next() for _ in range(8)] == [second.next() for _ in range(8)]


def test_jitter_spreads_delays() -> None:
    delays = {Backoff(initial=1.0, rng=random.Random(seed)).next() for seed in range(20)}
    assert len(delays) == 20


@pytest.mark.parametrize(("initial", "cap", "factor"), [(0, 1, 2), (2, 1, 2), (0.1, 1, 0.5)])
def test_bad_parameters_are_refused(initial: float, cap: float, factor: float) -> None:
    with pytest.raises(ValueError):
        Backoff(initial=initial, cap=cap, factor=factor)
