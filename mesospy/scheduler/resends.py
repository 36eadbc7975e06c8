"""Recognising a status update the framework has already been given.

Delivery is at least once: an agent resends an update until it is acknowledged, and a
newly elected master resends the unacknowledged ones to a re-subscribing framework, so
the same update (same task, same uuid) can arrive twice, for instance after an agent was
unreachable and came back. The driver hands each update to the scheduler once and
answers a resend with the acknowledgement the first delivery earned.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["DeliveredUpdates"]

UpdateKey = tuple[str, bytes]


class DeliveredUpdates:
    """The most recent ``limit`` updates handed to the scheduler, and which were acked."""

    def __init__(self, limit: int = 16_384) -> None:
        self._limit = limit
        self._acked: OrderedDict[UpdateKey, bool] = OrderedDict()

    def __contains__(self, key: UpdateKey) -> bool:
        return key in self._acked

    def __len__(self) -> int:
        return len(self._acked)

    def delivered(self, key: UpdateKey) -> None:
        """``key`` was handed to the scheduler (not yet acknowledged)."""
        self._acked[key] = self._acked.get(key, False)
        self._acked.move_to_end(key)
        while len(self._acked) > self._limit:
            self._acked.popitem(last=False)

    def acknowledged(self, key: UpdateKey) -> None:
        """The scheduler (or the driver for it) acknowledged ``key``."""
        if key in self._acked:
            self._acked[key] = True

    def is_acknowledged(self, key: UpdateKey) -> bool:
        return self._acked.get(key, False)
