"""Which sandboxes the agent's collector removes: files in a temp dir, no agent."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from mesospy.agent.gc import TRASH, SandboxCollector, aged_sandboxes, effective_delay


def make_sandbox(work_dir: Path, framework: str, task: str, age: float) -> Path:
    sandbox = work_dir / "frameworks" / framework / "tasks" / task
    sandbox.mkdir(parents=True)
    for name in ("stdout", "stderr"):
        (sandbox / name).write_text(name)
    then = time.time() - age
    for path in (sandbox / "stdout", sandbox / "stderr", sandbox):
        os.utime(path, (then, then))
    return sandbox


@pytest.mark.parametrize(
    ("usage", "headroom", "expected"),
    [(0.0, 0.1, 90.0), (0.5, 0.1, 40.0), (0.9, 0.1, 0.0), (0.99, 0.1, 0.0), (0.2, 0.0, 80.0)],
)
def test_the_delay_shrinks_as_the_disk_fills(
    usage: float, headroom: float, expected: float
) -> None:
    assert effective_delay(100.0, usage, headroom) == pytest.approx(expected)


def test_only_sandboxes_not_written_for_the_delay_are_aged(tmp_path: Path) -> None:
    old = make_sandbox(tmp_path, "f1", "old", age=100)
    make_sandbox(tmp_path, "f1", "new", age=1)
    other = make_sandbox(tmp_path, "f2", "old", age=100)
    os.utime(other / "stdout")  # written just now: its task wrote late
    assert aged_sandboxes(tmp_path, 50, time.time()) == [old]
    assert aged_sandboxes(tmp_path / "nothing-here", 50, time.time()) == []


def test_the_collector_keeps_tracked_sandboxes_and_clears_its_trash(tmp_path: Path) -> None:
    ended = make_sandbox(tmp_path, "f", "ended", age=100)
    tracked = make_sandbox(tmp_path, "f", "tracked", age=100)
    leftover = tmp_path / "frameworks" / "f" / TRASH / "from-an-earlier-run"
    leftover.mkdir(parents=True)
    collector = SandboxCollector(
        tmp_path, lambda: {str(tracked)}, gc_delay=50, headroom=0.0, interval=60
    )
    assert asyncio.run(collector.collect()) == 1
    assert not ended.exists() and tracked.is_dir()
    assert not leftover.exists()
    assert asyncio.run(collector.collect()) == 0


def test_a_sandbox_written_again_since_the_scan_is_kept(tmp_path: Path) -> None:
    relaunched = make_sandbox(tmp_path, "f", "again", age=100)
    collector = SandboxCollector(tmp_path, set, gc_delay=50, headroom=0.0, interval=60)
    aged = aged_sandboxes(tmp_path, 50, time.time())
    assert aged == [relaunched]
    os.utime(relaunched / "stdout")  # the task id ran again meanwhile
    assert collector._set_aside(aged, 50) == []
    assert relaunched.is_dir()


def test_a_sandbox_that_cannot_move_does_not_stop_the_others(tmp_path: Path) -> None:
    first = make_sandbox(tmp_path, "f", "a", age=100)
    second = make_sandbox(tmp_path, "f", "b", age=100)
    (tmp_path / "frameworks" / "f" / TRASH).write_text("not a directory")
    blocked = make_sandbox(tmp_path, "g", "c", age=100)
    collector = SandboxCollector(tmp_path, set, gc_delay=50, headroom=0.0, interval=60)
    assert asyncio.run(collector.collect()) == 1
    assert first.is_dir() and second.is_dir() and not blocked.exists()
