"""A short chaos run, so that CI exercises the chaos script (``chaos.py``) end to end.

Real ZooKeeper, three masters, three agents, the framework as its own process; the script
kills them at random for 20 s while 60 tasks of 0.5-2 s run, then checks that no task was
lost, none ran twice and the master agrees with the framework. A missing ZooKeeper fails it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parent / "chaos.py"


@pytest.mark.timeout(120)
def test_a_short_chaos_run_keeps_every_invariant() -> None:
    command = [
        sys.executable,
        str(CHAOS),
        *("--seed", "1", "--duration", "20", "--tasks", "60", "--drain-timeout", "60"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=115)
    output = result.stdout + result.stderr
    print(output)  # shown by pytest when the test fails: what was done, and what broke
    assert result.returncode == 0, output[-6000:]
    assert "invariants hold" in result.stdout
    # It did cause chaos: seed 1 starts by killing the framework, then the leading master.
    for action in ("kill -9 leading master", "kill -9 framework"):
        assert f"'{action}'" in result.stdout, f"no {action!r} in this run"
    assert "kill -9 agent-" in result.stdout or "SIGSTOP agent-" in result.stdout
