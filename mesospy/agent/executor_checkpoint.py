"""What an agent must know of its executors after a restart: the executor API's port
(executors reconnect to it), and each executor's process, token and container.

One small JSON file (``meta/executors.json``), rewritten whole (temp file, fsync,
rename) whenever an executor starts or ends: executors are few and change rarely.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from mesospy.agent.checkpoint import write_durably
from mesospy.v1 import common_pb2

FILE = "executors.json"


@dataclass
class SavedExecutor:
    framework: common_pb2.FrameworkInfo
    info: common_pb2.ExecutorInfo
    pid: int
    start_ticks: int | None
    token: str
    container_id: str


@dataclass
class SavedExecutors:
    port: int = 0
    executors: list[SavedExecutor] | None = None


def _b64(message: common_pb2.FrameworkInfo | common_pb2.ExecutorInfo) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def save(meta_dir: Path, port: int, executors: list[SavedExecutor]) -> None:
    meta_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "port": port,
        "executors": [
            {
                "framework": _b64(e.framework),
                "info": _b64(e.info),
                "pid": e.pid,
                "start_ticks": e.start_ticks,
                "token": e.token,
                "container_id": e.container_id,
            }
            for e in executors
        ],
    }
    write_durably(meta_dir / FILE, json.dumps(document).encode())


def load(meta_dir: Path) -> SavedExecutors:
    """What was saved; nothing if there is no file or it cannot be read."""
    try:
        document = json.loads((meta_dir / FILE).read_text())
    except (OSError, ValueError):
        return SavedExecutors(0, [])
    out = []
    with contextlib.suppress(KeyError, TypeError, ValueError):
        for item in document.get("executors", []):
            framework = common_pb2.FrameworkInfo()
            framework.ParseFromString(base64.b64decode(item["framework"]))
            info = common_pb2.ExecutorInfo()
            info.ParseFromString(base64.b64decode(item["info"]))
            out.append(
                SavedExecutor(
                    framework,
                    info,
                    int(item["pid"]),
                    item.get("start_ticks"),
                    str(item["token"]),
                    str(item["container_id"]),
                )
            )
    port = document.get("port", 0)
    return SavedExecutors(port if isinstance(port, int) else 0, out)


def image_containers(meta: Path) -> set[str]:
    """The container ids of the executors in images saved in ``meta`` (after a restart,
    their roots are still in use)."""
    saved = load(meta).executors or []
    return {r.container_id for r in saved if r.info.container.mesos.HasField("image")}
