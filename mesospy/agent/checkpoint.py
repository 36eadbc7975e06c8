"""The agent's checkpoint: what it must remember across a restart.

One append-only log (``meta/checkpoint.log``, JSON lines) records frameworks, tasks, their
pids, status updates and acknowledgements. Writes are buffered and flushed once per batch
(before the batch of updates is sent); an fsync runs at most once a second off the event
loop, so launching thousands of tasks costs no fsync storm. The log is compacted (rewritten
with only what is still live) when it has grown well past that. A torn last line, from a
crash mid-write, is ignored on replay.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesospy.v1 import common_pb2

log = logging.getLogger(__name__)

TaskKey = tuple[str, str]
LOG_NAME = "checkpoint.log"
AGENT_ID_NAME = "agent_id"
# Compact when the log holds this many lines and four times what is live.
COMPACT_MIN_LINES = 20000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)



def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (blocking): written to a
    temporary file beside it, fsynced, then renamed over it. A crash leaves the old file
    or the new one, never a part."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

@dataclass
class RecoveredTask:
    """A task as the checkpoint remembers it."""

    framework_id: str
    info: common_pb2.TaskInfo
    container_id: str = ""
    pid: int | None = None
    start_ticks: int | None = None  # see tasks.process_start_ticks
    latest: common_pb2.TaskStatus | None = None
    unacked: list[common_pb2.TaskStatus] = field(default_factory=list)
    kill_reason: int | None = None  # the agent had begun killing it


@dataclass
class RecoveredState:
    agent_id: str | None = None
    frameworks: dict[str, common_pb2.FrameworkInfo] = field(default_factory=dict)
    tasks: dict[TaskKey, RecoveredTask] = field(default_factory=dict)


@dataclass
class _Live:
    """The lines still needed for one task, kept to rewrite the log when compacting."""

    task: str
    pid: str | None = None
    kill: str | None = None
    latest: dict[str, Any] | None = None
    unacked: dict[bytes, str] = field(default_factory=dict)


class Checkpoint:
    """Write-behind, append-only persistence of the agent's tasks and updates."""

    def __init__(self, meta_dir: Path) -> None:
        self._dir = meta_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._path = meta_dir / LOG_NAME
        self._buffer: list[str] = []
        self._fd = -1
        self._lines = 0
        self._dirty = False
        self._frameworks: dict[str, str] = {}
        self._live: dict[TaskKey, _Live] = {}

    # ------------------------------------------------------------------ agent id

    def load_agent_id(self) -> str | None:
        try:
            text = (self._dir / AGENT_ID_NAME).read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def save_agent_id(self, agent_id: str) -> None:
        write_durably(self._dir / AGENT_ID_NAME, (agent_id + "\n").encode())

    # ------------------------------------------------------------------ recovery

    def recover(self) -> RecoveredState:
        """Replay the log, then rewrite it compactly and open it for appending."""
        state = RecoveredState(agent_id=self.load_agent_id())
        try:
            lines = self._path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for number, line in enumerate(lines):
            try:
                self._replay(json.loads(line), state)
            except (ValueError, KeyError) as exc:
                if number != len(lines) - 1:
                    log.warning("checkpoint line %d unreadable, skipped: %s", number + 1, exc)
        self._compact()
        return state

    def _replay(self, rec: dict[str, Any], state: RecoveredState) -> None:
        kind = rec["k"]
        if kind == "fw":
            info = common_pb2.FrameworkInfo.FromString(_unb64(rec["info"]))
            state.frameworks[info.id] = info
            self._frameworks[info.id] = json.dumps(rec)
            return
        key = (rec["fid"], rec["tid"])
        if kind == "task":
            task_info = common_pb2.TaskInfo.FromString(_unb64(rec["info"]))
            state.tasks[key] = RecoveredTask(rec["fid"], task_info, rec.get("cid", ""))
            self._live[key] = _Live(task=json.dumps(rec))
            return
        task = state.tasks.get(key)
        live = self._live.get(key)
        if task is None or live is None:
            return
        if kind == "pid":
            task.pid, task.start_ticks = rec["pid"], rec.get("st")
            live.pid = json.dumps(rec)
        elif kind == "upd":
            status = common_pb2.TaskStatus.FromString(_unb64(rec["s"]))
            task.latest = status
            live.latest = rec
            if not rec.get("acked"):
                task.unacked.append(status)
                live.unacked[status.uuid] = json.dumps(rec)
        elif kind == "kill":
            task.kill_reason = rec["r"]
            live.kill = json.dumps(rec)
        elif kind == "ack":
            uuid = bytes.fromhex(rec["u"])
            task.unacked = [s for s in task.unacked if s.uuid != uuid]
            live.unacked.pop(uuid, None)
        elif kind == "forget":
            del state.tasks[key]
            del self._live[key]

    # ------------------------------------------------------------------ recording

    def add_framework(self, info: common_pb2.FrameworkInfo) -> None:
        line = json.dumps({"k": "fw", "info": _b64(info.SerializeToString())})
        if self._frameworks.get(info.id) != line:
            self._frameworks[info.id] = line
            self._append(line)

    def add_task(self, framework_id: str, info: common_pb2.TaskInfo, container_id: str) -> None:
        rec = {
            "k": "task",
            "fid": framework_id,
            "tid": info.task_id,
            "cid": container_id,
            "info": _b64(info.SerializeToString()),
        }
        line = json.dumps(rec)
        self._live[(framework_id, info.task_id)] = _Live(task=line)
        self._append(line)

    def add_pid(self, key: TaskKey, pid: int, start_ticks: int | None) -> None:
        line = json.dumps({"k": "pid", "fid": key[0], "tid": key[1], "pid": pid, "st": start_ticks})
        live = self._live.get(key)
        if live is not None:
            live.pid = line
        self._append(line)

    def add_kill(self, key: TaskKey, reason: int) -> None:
        line = json.dumps({"k": "kill", "fid": key[0], "tid": key[1], "r": reason})
        live = self._live.get(key)
        if live is not None:
            live.kill = line
        self._append(line)

    def add_update(self, key: TaskKey, status: common_pb2.TaskStatus) -> None:
        rec = {"k": "upd", "fid": key[0], "tid": key[1], "s": _b64(status.SerializeToString())}
        line = json.dumps(rec)
        live = self._live.get(key)
        if live is not None:
            live.latest = rec
            live.unacked[status.uuid] = line
        self._append(line)

    def add_ack(self, key: TaskKey, uuid: bytes) -> None:
        live = self._live.get(key)
        if live is not None:
            live.unacked.pop(uuid, None)
        self._append(json.dumps({"k": "ack", "fid": key[0], "tid": key[1], "u": uuid.hex()}))

    def forget(self, key: TaskKey) -> None:
        if self._live.pop(key, None) is not None:
            self._append(json.dumps({"k": "forget", "fid": key[0], "tid": key[1]}))

    def _append(self, line: str) -> None:
        self._buffer.append(line)

    # ------------------------------------------------------------------ writing

    def flush(self) -> None:
        """Write what is buffered (no fsync; see sync())."""
        if not self._buffer:
            return
        data = ("\n".join(self._buffer) + "\n").encode()
        self._buffer.clear()
        self._lines += data.count(b"\n")
        os.write(self._fd, data)
        self._dirty = True
        if self._lines > COMPACT_MIN_LINES and self._lines > 4 * self._live_lines():
            self._compact()

    async def sync_forever(self, interval: float = 1.0) -> None:
        """fsync the log at most once per ``interval``, off the event loop."""
        while True:
            await asyncio.sleep(interval)
            self.flush()
            if self._dirty:
                self._dirty = False
                fd = self._fd
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(os.fsync, fd)

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _live_lines(self) -> int:
        return len(self._frameworks) + sum(3 + len(t.unacked) for t in self._live.values())

    def _compact(self) -> None:
        lines = list(self._frameworks.values())
        for live in self._live.values():
            lines.append(live.task)
            if live.pid is not None:
                lines.append(live.pid)
            if live.kill is not None:
                lines.append(live.kill)
            latest_line = json.dumps(live.latest) if live.latest is not None else None
            if live.latest is not None and latest_line not in live.unacked.values():
                lines.append(json.dumps({**live.latest, "acked": True}))
            lines.extend(live.unacked.values())
        write_durably(self._path, "".join(line + "\n" for line in lines).encode())
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._lines = len(lines)
