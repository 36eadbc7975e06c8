"""A daemon stops within its grace after SIGTERM even when a worker thread is stuck."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

STUCK = """
import asyncio, sys, threading
from mesospy.cli.common import run_until_signalled

async def main():
    print("ready", flush=True)
    # A call that never returns, as a ZooKeeper request to a server that is gone.
    await asyncio.to_thread(threading.Event().wait)

run_until_signalled(main(), grace=float(sys.argv[1]))
"""


def _start(grace: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK, str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_ends_a_daemon_whose_thread_is_stuck_within_its_grace() -> None:
    proc = _start(grace=1.0)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - start
    assert proc.returncode == 1
    assert "did not stop within 1s of SIGTERM" in err
    assert 0.9 <= took < 10, took


def test_a_second_signal_exits_at_once() -> None:
    proc = _start(grace=60.0)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "SIGTERM again: exiting now" in err
