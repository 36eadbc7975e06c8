"""Bounded stopping for daemons: a process told to stop is gone soon, whatever blocks.

A blocking call in a worker thread (a ZooKeeper request waiting for a server that is
gone) cannot be cancelled, and the interpreter joins such threads at exit, so a daemon
could otherwise outlive its SIGTERM indefinitely. An armed ``ExitDeadline`` ends the
process if cleaning up takes longer than its grace.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["STOP_GRACE", "ExitDeadline"]

# A daemon told to stop (or ending on its own) is gone this many seconds later at most.
STOP_GRACE = 15.0


class ExitDeadline:
    """Ends the process ``seconds`` after ``arm`` (the first call counts)."""

    def __init__(self, seconds: float = STOP_GRACE) -> None:
        self.seconds = seconds
        self._timer: threading.Timer | None = None

    def arm(self, message: str) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, _exit_now, (message,))
            self._timer.daemon = True
            self._timer.start()


def _exit_now(message: str) -> None:
    # Straight to the file descriptor: a stuck thread may hold the logging locks.
    with contextlib.suppress(OSError):
        os.write(2, f"mesospy: error: {message}\n".encode(errors="replace"))
    os._exit(1)
