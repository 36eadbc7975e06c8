"""Executors' sandboxes are collected like tasks' once their executor has ended."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from mesospy.agent.executors import executor_sandbox
from mesospy.agent.gc import SandboxCollector, aged_sandboxes


def old_sandbox(path: Path, age: float) -> Path:
    path.mkdir(parents=True)
    (path / "stdout").write_text("out")
    past = time.time() - age
    for each in (path / "stdout", path):
        os.utime(each, (past, past))
    return path


def test_ended_executors_sandboxes_go_and_running_ones_stay(tmp_path: Path) -> None:
    ended = old_sandbox(executor_sandbox(tmp_path, "f1", "ended"), age=100)
    running = old_sandbox(executor_sandbox(tmp_path, "f1", "running"), age=100)
    assert sorted(aged_sandboxes(tmp_path, 50, time.time())) == sorted([ended, running])
    collector = SandboxCollector(
        tmp_path, lambda: {str(running)}, gc_delay=50, headroom=0.0, interval=60
    )
    assert asyncio.run(collector.collect()) == 1
    assert not ended.exists() and running.is_dir()
