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

from mesospy.zk.master_info import ELECTION_PREFIX
from mesospy.zk.url import SCHEME, ZooKeeperUrl, parse_zk_url

if TYPE_CHECKING:
    from kazoo.client import KazooClient

__all__ = [
    "FRAMEWORK_ID_KEY",
    "MAX_DOCUMENT_BYTES",
    "DirectoryStore",
    "DocumentTooLarge",
    "ElectionPathConflict",
    "StateLocationError",
    "StateStore",
    "ZooKeeperStore",
    "open_store",
]

FRAMEWORK_ID_KEY = "framework_id"
# ZooKeeper refuses a packet over 1 MiB (jute.maxbuffer) including the request around it.
MAX_DOCUMENT_BYTES = 1_000_000


class StateLocationError(ValueError):
    """A ``--state`` value that cannot be used (a malformed ``zk://`` URL, an empty path)."""


class ElectionPathConflict(StateLocationError):
    """A ``--state`` in ZooKeeper at or under the path where masters hold their election."""


# Children of an election path that Mesos-format detectors read as masters: Mesos's
# ``json.info_<seq>`` and the older ``info_<seq>``.
_ELECTION_NODES = (ELECTION_PREFIX, "info_")


def election_conflict(state: ZooKeeperUrl, election_path: str) -> str | None:
    """Why keeping state at ``state`` would break detectors of masters electing under
    ``election_path`` (None: it would not).

    Any znode the store makes at or under the election path adds a child there beside the
    masters' ``json.info_`` nodes, which Mesos-format detectors (pymesos's, Mesos's own)
    take for a master's."""
    election = election_path.rstrip("/")
    path = state.path.rstrip("/")
    if not election or (path != election and not path.startswith(election + "/")):
        return None
    leaf = path.rsplit("/", 1)[-1] if path != election else "state"
    parent, _, name = election.rpartition("/")
    sibling = ZooKeeperUrl(state.servers, f"{parent}/{name}-{leaf}")
    return (
        f"--state {state} is {'the' if path == election else 'under the'} path where masters "
        f"hold their election ({election}, with its {ELECTION_PREFIX} znodes), and "
        f"Mesos-format master detectors take what is stored there for masters: use a sibling "
        f"path such as {sibling}"
    )


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
            self._refuse_election_path(parsed)
            self._retry(self.client.ensure_path, self.path or "/")
        except BaseException:
            self.close()
            raise

    def _refuse_election_path(self, parsed: ZooKeeperUrl) -> None:
        """Raise ``ElectionPathConflict`` if the path or one of its ancestors is where masters
        elect (holds ``json.info_``/``info_`` children), whatever the cluster's --master."""
        from kazoo.exceptions import NoNodeError

        segments = [s for s in self.path.split("/") if s]
        for depth in range(1, len(segments) + 1):
            ancestor = "/" + "/".join(segments[:depth])
            try:
                children = self._retry(self.client.get_children, ancestor)
            except NoNodeError:
                return  # nothing deeper exists either
            if any(c.startswith(_ELECTION_NODES) for c in children):
                problem = election_conflict(parsed, ancestor)
                assert problem is not None
                raise ElectionPathConflict(problem)

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


def open_store(location: str, master: str | None = None) -> StateStore:
    """``zk://host:port,.../path`` (ZooKeeper) or a directory path.

    Raises ``StateLocationError`` for a location that cannot be used, among them
    (``ElectionPathConflict``) a ZooKeeper location at or under the election path of
    ``master`` (when that is a ``zk://`` URL) or of any masters found electing there."""
    if location.startswith(SCHEME):
        try:
            state = parse_zk_url(location)
            election = parse_zk_url(master) if master and master.startswith(SCHEME) else None
        except ValueError as exc:
            raise StateLocationError(str(exc)) from exc
        shared = election is not None and set(state.servers) & set(election.servers)
        problem = election_conflict(state, election.path) if election and shared else None
        if problem:
            raise ElectionPathConflict(problem)
        return ZooKeeperStore(location)
    if not location:
        raise StateLocationError("no state location: give a directory or zk://host:port/path")
    return DirectoryStore(Path(location))
