"""Where the framework keeps its state: a local directory or ZooKeeper.

Layout (the same keys in both): ``framework_id``, ``apps/<app id>`` (an ``AppRecord`` as
JSON), ``instances/<task id>`` (an ``Instance`` as JSON, so a restarted framework knows
where its running tasks are and which ports they got). App ids are percent-escaped.

A directory write is atomic (temp file, fsync, rename, fsync of the directory); a
ZooKeeper write is one ``set``/``create``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from frameworks.service.model import AppRecord, Instance
from mesospy.zk.url import parse_zk_url


class Backend(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def children(self, folder: str) -> list[str]: ...
    def close(self) -> None: ...


class DirectoryBackend:
    """Keys are files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("apps", "instances"):
            (root / folder).mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, value: bytes) -> None:
        path = self.root / key
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(value)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / key).unlink()

    def children(self, folder: str) -> list[str]:
        return sorted(p.name for p in (self.root / folder).iterdir() if not p.name.startswith("."))

    def close(self) -> None:
        pass


class ZooKeeperBackend:
    """Keys are znodes under the URL's path (e.g. ``zk://h:2181/mesospy-service``)."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        from kazoo.client import KazooClient

        parsed = parse_zk_url(url)
        self.root = parsed.path
        self.client = KazooClient(hosts=parsed.hosts, timeout=timeout)
        self.client.start(timeout=timeout)
        for folder in ("apps", "instances"):
            self.client.ensure_path(f"{self.root}/{folder}")

    def get(self, key: str) -> bytes | None:
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self.client.get(f"{self.root}/{key}")
        except NoNodeError:
            return None
        return bytes(data)

    def put(self, key: str, value: bytes) -> None:
        from kazoo.exceptions import NodeExistsError

        path = f"{self.root}/{key}"
        if self.client.exists(path):
            self.client.set(path, value)
            return
        try:
            self.client.create(path, value, makepath=True)
        except NodeExistsError:
            self.client.set(path, value)

    def delete(self, key: str) -> None:
        from kazoo.exceptions import NoNodeError

        with contextlib.suppress(NoNodeError):
            self.client.delete(f"{self.root}/{key}")

    def children(self, folder: str) -> list[str]:
        return sorted(self.client.get_children(f"{self.root}/{folder}"))

    def close(self) -> None:
        self.client.stop()
        self.client.close()


class Store:
    """The framework's state on top of a ``Backend``."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def open(cls, location: str) -> Store:
        """``zk://hosts/path`` or a directory."""
        if location.startswith("zk://"):
            return cls(ZooKeeperBackend(location))
        return cls(DirectoryBackend(Path(location)))

    def framework_id(self) -> str:
        data = self.backend.get("framework_id")
        return data.decode() if data else ""

    def save_framework_id(self, framework_id: str) -> None:
        self.backend.put("framework_id", framework_id.encode())

    def apps(self) -> dict[str, AppRecord]:
        out = {}
        for name in self.backend.children("apps"):
            data = self._load(f"apps/{name}")
            if data is not None:
                app = AppRecord.from_dict(data)
                out[app.id] = app
        return out

    def save_app(self, app: AppRecord) -> None:
        self._dump(f"apps/{quote(app.id, safe='')}", app.to_dict())

    def delete_app(self, app_id: str) -> None:
        self.backend.delete(f"apps/{quote(app_id, safe='')}")

    def instances(self) -> dict[str, Instance]:
        out = {}
        for name in self.backend.children("instances"):
            data = self._load(f"instances/{name}")
            if data is not None:
                out[unquote(name)] = Instance.from_dict(data)
        return out

    def save_instance(self, instance: Instance) -> None:
        self._dump(f"instances/{quote(instance.task_id, safe='')}", instance.to_dict())

    def delete_instance(self, task_id: str) -> None:
        self.backend.delete(f"instances/{quote(task_id, safe='')}")

    def close(self) -> None:
        self.backend.close()

    def _load(self, key: str) -> Any:
        data = self.backend.get(key)
        return None if data is None else json.loads(data)

    def _dump(self, key: str, value: Any) -> None:
        self.backend.put(key, json.dumps(value, sort_keys=True).encode())
