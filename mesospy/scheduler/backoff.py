"""Jittered exponential backoff between reconnection attempts."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from ``initial`` up to ``cap``, jittered.

    Each delay is drawn uniformly from ``[ceiling / 2, ceiling]``: the jitter keeps many
    frameworks that lost the same master from reconnecting in lockstep, and the lower bound
    keeps a dead master from being hammered. Pass a seeded ``rng`` to replay a sequence.
    """

    def __init__(
        self,
        initial: float = 0.1,
        cap: float = 10.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or cap < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= cap and factor >= 1")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self._rng = rng or random.Random()
        self._ceiling = initial

    @property
    def ceiling(self) -> float:
        """The largest delay the next call to ``next()`` may return."""
        return self._ceiling

    def next(self) -> float:
        """The next delay in seconds; the ceiling then grows towards ``cap``."""
        delay = self._rng.uniform(self._ceiling / 2, self._ceiling)
        self._ceiling = min(self.cap, self._ceiling * self.factor)
        return delay

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful connection)."""
        self._ceiling = self.initial
