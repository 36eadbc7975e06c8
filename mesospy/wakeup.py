"""Waiting for an ``asyncio.Event`` with a timeout, without losing a cancellation.

On Python before 3.12, ``asyncio.wait_for(event.wait(), timeout)`` returns normally when
the event is set in the same loop iteration as its task is cancelled: the cancellation is
swallowed. A loop that wakes on the event (the agent's status-update sender, the master's
allocation loop) then waits again and its ``stop()``, which awaits the cancelled task,
never returns.

``Revision`` is a change counter that any number of tasks can wait on.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds have passed (None: no limit);
    whether it is set. A cancellation always raises CancelledError."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()


class Revision:
    """A counter of changes that tasks can wait on (any number of them at once).

    ``bump()`` counts a change and wakes every waiter; ``wait_past(seen)`` returns once the
    count is past ``seen``. A reader that remembers the count it last acted on knows
    whether it is still current without comparing what changed.
    """

    def __init__(self) -> None:
        self.value = 0
        self._bumped = asyncio.Event()  # set and replaced on every bump

    def bump(self) -> None:
        self.value += 1
        self._bumped.set()
        self._bumped = asyncio.Event()

    async def wait_past(self, seen: int) -> None:
        while self.value <= seen:
            await self._bumped.wait()
