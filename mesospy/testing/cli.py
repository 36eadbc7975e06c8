"""Running the ``mesospy`` command as a user does, in a child process, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

__all__ = ["run_mesospy"]


def run_mesospy(
    *args: str,
    master: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """``mesospy ARGS`` with its output captured and no stdin; ``master`` sets
    ``MESOSPY_MASTER``; ``env`` replaces the ``MESOSPY_*`` variables of this process
    when given (so a test's environment does not leak into what it checks)."""
    base = dict(os.environ)
    if env is not None:
        base = {k: v for k, v in base.items() if not k.startswith("MESOSPY_")}
        base.update(env)
    if master is not None:
        base["MESOSPY_MASTER"] = master
    return subprocess.run(
        [sys.executable, "-m", "mesospy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=base,
    )
