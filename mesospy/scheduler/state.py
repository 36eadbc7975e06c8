"""Keeping a framework's state across restarts: a small durable store of JSON documents.

A framework that must survive its own restart keeps what it knows (its framework id, the
work it was asked to do, the tasks it launched) in a ``StateStore`` and loads it again on
start. Two backends, chosen by ``open_store`` from a ``--state`` value:

- a directory (``/var/lib/myframework``): one ``<key>.json`` file per key; a write is a
  temp file, fsync, rename into place, fsync of the folder, so it is all there or not at
  all after a crash or power loss at any point;
- ZooKeeper (``zk://h1:2181,h2:2181/myframework``): one znode per key under the path, so a
  framework started on another host finds the same state. A document must stay under
  ZooKeeper's limit of 1 MB per node; both backends refuse bigger ones, so a framework
  tested on a directory does not break on ZooKeeper.

Keys are paths of segments (``jobs/nightly``, ``runs/nightly/r1``); a key can hold a
document and have children at the same time, like a znode. Segments are the framework's
to escape (``urllib.parse.quote(name, safe="")`` for names with ``/``); the store refuses
empty segments and ones starting with ``.``. Every call blocks until it is done (durable,
for writes): call it off the event loop (``asyncio.to_thread``) in an async framework.

::

    store = open_store(args.state)
    info = FrameworkInfo(id=store.framework_id(), ...)
    ... in subscribed(): store.save_framework_id(framework_id)
    store.put("jobs/nightly", {"cron": "0 3 * * *"})
    for name in store.children("jobs"):
        job = store.get(f"jobs/{name}")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesospy.zk.url import SCHEME, parse_zk_url

if TYPE_CHECKING:
    from kazoo.client import KazooClient

__all__ = [
    "FRAMEWORK_ID_KEY",
    "MAX_DOCUMENT_BYTES",
    "DirectoryStore",
    "DocumentTooLarge",
    "StateStore",
    "ZooKeeperStore",
    "open_store",
]

FRAMEWORK_ID_KEY = "framework_id"
# ZooKeeper refuses a packet over 1 MiB (jute.maxbuffer) including the request around it.
MAX_DOCUMENT_BYTES = 1_000_000


class DocumentTooLarge(ValueError):
    """A document over ``MAX_DOCUMENT_BYTES`` once encoded."""


class StateStore(ABC):
    """A durable map of keys (``a/b/c``) to JSON documents."""

    @abstractmethod
    def get(self, key: str) -> Any | None:
        """The document at ``key``, or None if there is none."""

    @abstractmethod
    def _write(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` and everything under it (nothing if it is not there)."""

    @abstractmethod
    def children(self, key: str) -> list[str]:
        """The names directly under ``key`` (sorted; ``[]`` if there are none)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the state stays."""

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (anything ``json.dumps`` takes) at ``key``; durable on return."""
        check_key(key)
        data = json.dumps(value, sort_keys=True).encode()
        if len(data) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(
                f"the document for {key!r} is {len(data)} bytes; a state document must stay "
                f"under {MAX_DOCUMENT_BYTES} (ZooKeeper's limit): split it over several keys"
            )
        self._write(key, data)

    def framework_id(self) -> str:
        """The stored framework id ("" before the first subscription)."""
        value = self.get(FRAMEWORK_ID_KEY)
        return value if isinstance(value, str) else ""

    def save_framework_id(self, framework_id: str) -> None:
        """Keep the id the master gave: the next start re-subscribes (fails over) with it."""
        self.put(FRAMEWORK_ID_KEY, framework_id)

    def forget_framework_id(self) -> None:
        """After the master removed the framework: the next start subscribes afresh."""
        self.delete(FRAMEWORK_ID_KEY)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_key(key: str) -> list[str]:
    """The key's segments; ``ValueError`` for an empty one or one starting with ``.``."""
    parts = key.split("/")
    for part in parts:
        if not part or part.startswith(".") or "\0" in part:
            raise ValueError(
                f"bad state key {key!r}: segments must be non-empty, must not start with "
                "'.' and must not contain NUL (escape names with urllib.parse.quote)"
            )
    return parts


class DirectoryStore(StateStore):
    """One ``<key>.json`` file per key under ``root``; atomic, fsynced writes."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        *folders, name = check_key(key)
        return self.root.joinpath(*folders, f"{name}.json")

    def get(self, key: str) -> Any | None:
        try:
            return json.loads(self._file(key).read_bytes())
        except FileNotFoundError:
            return None

    def _write(self, key: str, data: bytes) -> None:
        path = self._file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
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
        _fsync_dir(path.parent)

    def delete(self, key: str) -> None:
        path = self._file(key)
        folder = self.root.joinpath(*check_key(key))
        removed = False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed = True
        if folder.is_dir():
            # Out of sight in one rename (names starting with '.' are never keys), then gone.
            hidden = folder.with_name(f".deleted-{uuid.uuid4().hex}")
            folder.rename(hidden)
            removed = True
            shutil.rmtree(hidden, ignore_errors=True)
        if removed:
            _fsync_dir(path.parent)

    def children(self, key: str) -> list[str]:
        folder = self.root.joinpath(*check_key(key))
        try:
            names = [p.name for p in folder.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted({n.removesuffix(".json") for n in names if not n.startswith(".")})

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.root)!r})"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ZooKeeperStore(StateStore):
    """One znode per key under the URL's path (``zk://h1:2181,h2:2181/myframework``).

    Calls retry over connection losses for up to ``timeout`` seconds, then raise.
    """

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        parsed = parse_zk_url(url)
        self.url = str(parsed)
        self.path = parsed.path.rstrip("/")
        self.client: KazooClient = KazooClient(hosts=parsed.hosts, timeout=timeout)
        self._retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0, deadline=timeout)
        self.client.start(timeout=timeout)
        try:
            self._retry(self.client.ensure_path, self.path or "/")
        except BaseException:
            self.close()
            raise

    def _node(self, key: str) -> str:
        check_key(key)
        return f"{self.path}/{key}"

    def get(self, key: str) -> Any | None:
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self._retry(self.client.get, self._node(key))
        except NoNodeError:
            return None
        return json.loads(data) if data else None

    def _write(self, key: str, data: bytes) -> None:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        node = self._node(key)

        def write() -> None:
            try:
                self.client.set(node, data)
            except NoNodeError:
                try:
                    self.client.create(node, data, makepath=True)
                except NodeExistsError:
                    self.client.set(node, data)

        self._retry(write)

    def delete(self, key: str) -> None:
        from kazoo.exceptions import NoNodeError

        node = self._node(key)

        def delete() -> None:
            with contextlib.suppress(NoNodeError):
                self.client.delete(node, recursive=True)

        self._retry(delete)

    def children(self, key: str) -> list[str]:
        from kazoo.exceptions import NoNodeError

        try:
            return sorted(self._retry(self.client.get_children, self._node(key)))
        except NoNodeError:
            return []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop()
        with contextlib.suppress(Exception):
            self.client.close()

    def __repr__(self) -> str:
        return f"ZooKeeperStore({self.url!r})"


def open_store(location: str) -> StateStore:
    """``zk://host:port,.../path`` (ZooKeeper) or a directory path."""
    if location.startswith(SCHEME):
        return ZooKeeperStore(location)
    if not location:
        raise ValueError("no state location: give a directory or zk://host:port/path")
    return DirectoryStore(Path(location))
