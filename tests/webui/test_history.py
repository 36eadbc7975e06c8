"""The overview chart's samples: shares and rates between two readings (pure)."""

from __future__ import annotations

from mesospy.webui.history import Counts, Sample, next_sample


def _counts(t: float, cpus: float, launched: int, ended: int) -> Counts:
    return Counts(t, cpus, 8.0, 512.0, 2048.0, launched, ended)


def test_the_first_reading_has_shares_but_no_rate() -> None:
    assert next_sample(None, _counts(100.0, 2.0, 50, 10)) == Sample(100.0, 0.25, 0.25, 0.0, 0.0)


def test_rates_are_per_second_since_the_reading_before() -> None:
    before = _counts(100.0, 2.0, 50, 10)
    assert next_sample(before, _counts(110.0, 4.0, 80, 30)) == Sample(110.0, 0.5, 0.25, 3.0, 2.0)


def test_a_restarted_counter_and_an_empty_cluster_give_zeros_not_nonsense() -> None:
    before = _counts(100.0, 2.0, 500, 400)
    empty = Counts(110.0, 0.0, 0.0, 0.0, 0.0, 3, 1)
    assert next_sample(before, empty) == Sample(110.0, 0.0, 0.0, 0.0, 0.0)
