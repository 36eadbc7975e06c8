"""Where the batch framework keeps its state: ZooKeeper or a local directory.

Keys are paths such as ``framework_id``, ``jobs/NAME`` and ``runs/NAME/RUN``; values are
JSON documents. A write returns only once it is durable (ZooKeeper has it, or the file is
fsynced and renamed into place), which is what makes "record the tick, then launch" hold
across a SIGKILL at any point.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from mesospy.zk.url import parse_zk_url

__all__ = ["DirectoryStore", "Store", "ZooKeeperStore", "open_store"]


class Store(Protocol):
    """A durable map of keys (``a/b/c``) to JSON documents."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...

    def children(self, key: str) -> list[str]: ...

    def close(self) -> None: ...


class DirectoryStore:
    """One file per key under ``root``; writes are atomic (temp file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> Any | None:
        try:
            return json.loads(self._path(key).read_text())
        except FileNotFoundError:
            return None

    def put(self, key: str, value: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(value, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        folder = self.root / key
        if folder.is_dir():
            for child in folder.rglob("*.json"):
                child.unlink()

    def children(self, key: str) -> list[str]:
        folder = self.root / key
        if not folder.is_dir():
            return []
        names = (p.name for p in folder.iterdir() if p.is_file() or p.is_dir())
        return sorted({n.removesuffix(".json") for n in names if not n.startswith(".tmp-")})

    def close(self) -> None:
        pass


class ZooKeeperStore:
    """One znode per key under the URL's path (``zk://h1:2181,h2:2181/mesospy-batch``)."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        parsed = parse_zk_url(url)
        self.path = parsed.path
        self.client = KazooClient(hosts=parsed.hosts, timeout=timeout)
        self.client.start(timeout=timeout)
        self.client.ensure_path(self.path)

    def _node(self, key: str) -> str:
        return f"{self.path}/{key}"

    def get(self, key: str) -> Any | None:
        try:
            data, _ = self.client.get(self._node(key))
        except NoNodeError:
            return None
        return json.loads(data) if data else None

    def put(self, key: str, value: Any) -> None:
        data = json.dumps(value, sort_keys=True).encode()
        node = self._node(key)
        try:
            self.client.set(node, data)
        except NoNodeError:
            try:
                self.client.create(node, data, makepath=True)
            except NodeExistsError:
                self.client.set(node, data)

    def delete(self, key: str) -> None:
        with contextlib.suppress(NoNodeError):
            self.client.delete(self._node(key), recursive=True)

    def children(self, key: str) -> list[str]:
        try:
            return sorted(self.client.get_children(self._node(key)))
        except NoNodeError:
            return []

    def close(self) -> None:
        self.client.stop()
        self.client.close()


def open_store(spec: str) -> Store:
    """``zk://hosts/path`` or a directory."""
    if spec.startswith("zk://"):
        return ZooKeeperStore(spec)
    return DirectoryStore(Path(spec))
