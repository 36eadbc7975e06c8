"""examples/workers.py end to end: work items by framework messages through its executor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mesospy.cluster import environment_with_master
from mesospy.testing import LocalCluster

WORKERS = Path(__file__).resolve().parents[2] / "examples" / "workers.py"


def test_every_work_item_comes_back_and_the_task_finishes(cluster: LocalCluster) -> None:
    result = subprocess.run(
        [sys.executable, str(WORKERS), "--items", "3000", "--window", "500"],
        env=environment_with_master(cluster.master_address),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3000/3000 items, 0 wrong" in result.stdout
    assert "task TASK_FINISHED" in result.stdout
