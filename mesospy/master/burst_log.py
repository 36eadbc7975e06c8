"""Log lines for events that come in bursts (agents registering after a failover).

A master of 10,000 agents logs 10,000 re-registrations within seconds of a failover:
formatting and writing them cost the new leader ~6 % of its CPU while it is busiest, and
nobody reads them one by one. ``BurstLog`` logs each event at INFO up to ``per_second``
in a second; past that the rest go to DEBUG and one INFO line a second counts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable


class BurstLog:
    """INFO lines for the first ``per_second`` events of each second, a count for the rest."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        per_second: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._what = what
        self._per_second = per_second
        self._clock = clock
        self._window = float("-inf")
        self._logged = 0
        self._held = 0
        self._held_since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def event(self, message: str, *args: object) -> None:
        now = self._clock()
        if now - self._window >= 1.0:
            self.flush()
            self._window, self._logged = now, 0
        if self._logged < self._per_second:
            self._logged += 1
            self._log.info(message, *args)
            return
        self._log.debug(message, *args)
        if not self._held:
            self._held_since = now
            self._arm()
        self._held += 1

    def flush(self) -> None:
        """Log the count of events held back so far (also done a second after the first)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._held:
            seconds = self._clock() - self._held_since
            self._log.info("... and %d more %s in %.1f s", self._held, self._what, seconds)
            self._held = 0

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (pure use): counted until the next event or flush()
        self._timer = loop.call_later(1.0, self.flush)
