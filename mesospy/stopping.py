"""Bounded stopping for daemons: a process told to stop is gone soon, whatever blocks.

A blocking call in a worker thread (a ZooKeeper request waiting for a server that is
gone) cannot be cancelled, and the interpreter joins such threads at exit, so a daemon
could otherwise outlive its SIGTERM indefinitely. ``exit_within`` arms a daemon timer
that ends the process if cleaning up takes longer than its grace.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["STOP_GRACE_SECONDS", "exit_now", "exit_within"]

# A daemon told to stop (or ending on its own) is gone this many seconds later at most.
STOP_GRACE_SECONDS = 10.0


def exit_within(seconds: float, why: str, code: int = 1) -> None:
    """End the process with ``code`` in ``seconds`` unless it has exited by then."""
    timer = threading.Timer(seconds, exit_now, (why, code))
    timer.daemon = True
    timer.start()


def exit_now(why: str, code: int) -> None:
    """Log ``why`` and end the process at once (no cleanup, no thread joins)."""
    logging.getLogger("mesospy").error("%s", why)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)
