"""Helpers shared by the service framework's end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable

# Four agent hostnames (all agents listen on 127.0.0.1; the master reaches an agent over
# its session, so the names need not resolve for placement; ".invalid" never does).
HOSTS = ["127.0.0.1", "localhost", "agent-3.invalid", "agent-4.invalid"]


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
