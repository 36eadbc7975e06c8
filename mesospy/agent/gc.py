"""Removing the sandboxes of tasks that are over (Mesos's ``--gc_delay``).

A sandbox outlives its task so that people can read what it wrote; without collection an
agent's disk fills with them (three inodes and the output of every task it ever ran). As in
Mesos, a sandbox is removed once its task is over and the agent no longer tracks it (every
update acknowledged), ``gc_delay`` after that (the agent touches the sandbox then) or after
it was last written, whichever is later, and sooner as the disk fills:
the delay is scaled by ``max(0, 1 - headroom - disk usage)``, so at 90 % usage with the
default 10 % headroom sandboxes go at the next check. The agent checks every
``interval`` seconds. The check works from the file system (no state of its own), so
sandboxes left by an earlier run of the agent, or an earlier agent id, are collected too.

Removal never races a launch: the collector renames the doomed sandboxes aside on the event
loop, in the same step that finds them untracked and still old (a task launched later makes
a fresh sandbox), a few hundred at a time, and deletes them in a worker thread. Mesos
schedules each removal as a task ends; a periodic scan instead also finds what a crash or an
earlier agent left, at the cost of a stat of three paths per sandbox per interval (in a
thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

TRASH = "removing"  # frameworks/<fid>/removing: beside tasks/, on the same file system
CHUNK = 500
_FILES = ("stdout", "stderr")


def effective_delay(gc_delay: float, disk_usage: float, headroom: float) -> float:
    """Mesos's rule: ``gc_delay * max(0, 1 - headroom - disk_usage)`` (usage in 0..1)."""
    return gc_delay * max(0.0, 1.0 - headroom - disk_usage)


def last_written(sandbox: Path) -> float:
    """When the task last wrote to its sandbox (the directory or its output files)."""
    newest = 0.0
    for path in (sandbox, *(sandbox / name for name in _FILES)):
        with contextlib.suppress(OSError):
            newest = max(newest, path.stat().st_mtime)
    return newest


def _subdirectories(path: Path) -> list[Path]:
    """The directories in ``path`` (none if it cannot be read)."""
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _in_frameworks(work_dir: Path, name: str) -> list[Path]:
    """The directories in ``work_dir/frameworks/*/name``."""
    frameworks = _subdirectories(work_dir / "frameworks")
    return [path for framework in frameworks for path in _subdirectories(framework / name)]


def aged_sandboxes(work_dir: Path, delay: float, now: float) -> list[Path]:
    """Every task (and executor) sandbox under ``work_dir/frameworks`` not written for
    ``delay`` s."""
    sandboxes = [*_in_frameworks(work_dir, "tasks"), *_in_frameworks(work_dir, "executors")]
    return [s for s in sandboxes if now - last_written(s) >= delay]


def disk_usage(path: Path) -> float:
    """The used share (0..1) of the file system holding ``path``."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return 0.0
    return usage.used / usage.total if usage.total else 0.0


class SandboxCollector:
    """Removes the sandboxes of tasks the agent no longer tracks (see the module)."""

    def __init__(
        self,
        work_dir: Path,
        tracked: Callable[[], set[str]],
        *,
        gc_delay: float,
        headroom: float,
        interval: float,
    ) -> None:
        self._work_dir = work_dir
        self._tracked = tracked
        self.gc_delay = gc_delay
        self.headroom = headroom
        self.interval = interval
        self.removed = 0

    async def run(self) -> None:
        """Collect every ``interval`` seconds, until cancelled."""
        while True:
            try:
                await self.collect()
            except Exception:  # a pass that failed must not end collection for good
                log.exception("sandbox collection failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def collect(self) -> int:
        """One pass: how many sandboxes were removed."""
        usage = await asyncio.to_thread(disk_usage, self._work_dir)
        delay = effective_delay(self.gc_delay, usage, self.headroom)
        aged = await asyncio.to_thread(aged_sandboxes, self._work_dir, delay, time.time())
        doomed: list[Path] = []
        for start in range(0, len(aged), CHUNK):
            doomed += self._set_aside(aged[start : start + CHUNK], delay)
            await asyncio.sleep(0)  # the loop serves calls between chunks
        await asyncio.to_thread(self._empty_trash)
        if doomed:
            self.removed += len(doomed)
            log.info(
                "removed %d sandboxes of ended tasks (older than %.0f s; disk %.0f %% used)",
                len(doomed),
                delay,
                100 * usage,
            )
        return len(doomed)

    def _set_aside(self, aged: list[Path], delay: float) -> list[Path]:
        """On the loop, in one step per chunk: no launch comes between the check that a
        sandbox is untracked and still old (a task id launched again during the scan wrote
        it since) and its move into its framework's trash (same file system)."""
        tracked = self._tracked()
        now = time.time()
        doomed: list[Path] = []
        for sandbox in aged:
            if str(sandbox) in tracked or now - last_written(sandbox) < delay:
                continue
            trash = sandbox.parent.parent / TRASH
            target = trash / uuid.uuid4().hex
            try:
                trash.mkdir(exist_ok=True)
                os.rename(sandbox, target)
            except FileNotFoundError:  # gone meanwhile
                continue
            except OSError as exc:  # one sandbox that cannot move must not stop the rest
                log.warning("cannot remove the sandbox %s: %s", sandbox, exc)
                continue
            doomed.append(target)
        return doomed

    def _empty_trash(self) -> None:
        """Worker thread: delete what was set aside, this pass or one before (an earlier
        run's leftovers too). Framework directories stay: removing one could race a
        launch making its path."""
        for path in _in_frameworks(self._work_dir, TRASH):
            shutil.rmtree(path, ignore_errors=True)
