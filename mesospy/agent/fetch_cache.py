"""The agent's fetcher cache: downloaded artifacts kept for the next task that asks.

Entries are keyed by URI and checksum and live as read-only files in the cache directory;
a sandbox gets a hard link to one (a copy where linking fails), so a large artifact lands
in many sandboxes at the cost of a directory entry each. The total size is bounded
(``--fetcher-cache-size``): the least recently used entries are evicted to make room, never
one being linked right now. A file in a sandbox is its own directory entry, so evicting an
entry never takes anything from a task. Concurrent requests for the same key download it
once: the first does, the others wait for it (``CacheIndex`` decides, in plain data; the
``FetcherCache`` carries it out on the disk). As in Mesos, the cache is emptied when the
agent starts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_CACHE_FILE = re.compile(r"^[0-9a-f]{64}(\.part)?$")
WAIT_SLICE = 0.1  # a waiter looks at its task's cancellation this often


@dataclass
class Entry:
    """One artifact in the cache."""

    key: str
    size: int
    path: Path
    pins: int = 0  # being linked into a sandbox right now: not to be evicted


@dataclass
class CacheIndex:
    """The cache's bookkeeping, pure: which entries it holds, in LRU order, and what to
    evict so that a new entry fits in ``capacity`` bytes."""

    capacity: int
    entries: OrderedDict[str, Entry] = field(default_factory=OrderedDict)
    size: int = 0

    def get(self, key: str) -> Entry | None:
        """The entry (now the most recently used), or None."""
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def admit(self, entry: Entry) -> list[Entry] | None:
        """Add an entry; the entries evicted to make room (oldest first), or None when it
        cannot fit even then (it is not added; nothing is evicted)."""
        if entry.size > self.capacity:
            return None
        room = self.capacity - self.size
        victims: list[Entry] = []
        for candidate in self.entries.values():
            if room >= entry.size:
                break
            if candidate.pins == 0:
                victims.append(candidate)
                room += candidate.size
        if room < entry.size:
            return None
        for victim in victims:
            self.remove(victim.key)
        self.entries[entry.key] = entry
        self.size += entry.size
        return victims

    def remove(self, key: str) -> Entry | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.size -= entry.size
        return entry


class FetchCancelled(Exception):
    """The task was killed (or the agent is stopping) while its artifacts were fetched."""


@dataclass
class _Download:
    """A download in progress that other requests for the same key wait for."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def cache_key(uri: str, checksum: str) -> str:
    return f"{uri}\0{checksum.lower()}"


class FetcherCache:
    """The cache on disk; thread-safe (fetches run in worker threads)."""

    def __init__(self, directory: Path, capacity: int) -> None:
        self.directory = directory
        self.index = CacheIndex(capacity)
        self._lock = threading.Lock()
        self._downloads: dict[str, _Download] = {}
        self.downloads = 0  # downloads made for the cache (metrics)
        self.hits = 0  # entries put into a sandbox without a download
        self.waiters = 0  # requests waiting now for another's download of their artifact
        directory.mkdir(parents=True, exist_ok=True)
        self._empty()

    def _empty(self) -> None:
        """Remove what an earlier run cached: only the cache's own files, so a cache
        directory pointed at a shared place (``--fetcher-cache-dir /tmp``) loses nothing
        else."""
        for path in self.directory.iterdir():
            if _CACHE_FILE.match(path.name) and not path.is_dir():
                path.unlink(missing_ok=True)

    def _file_for(self, key: str) -> Path:
        return self.directory / hashlib.sha256(key.encode()).hexdigest()

    def fetch_into(
        self,
        key: str,
        dest: Path,
        download: Callable[[Path], None],
        cancelled: Callable[[], bool],
        link: bool = True,
    ) -> bool:
        """Put the artifact of ``key`` at ``dest``, downloading it with ``download(path)``
        unless the cache has it or another request is downloading it. True when it came
        from the cache (no download by this call). ``link``: a hard link where it can be (else
        a copy of its own). Raises what the download raised."""
        while True:
            with self._lock:
                entry = self.index.get(key)
                if entry is not None:
                    entry.pins += 1
                    self.hits += 1
                    waiting = None
                else:
                    waiting = self._downloads.get(key)
                    if waiting is None:
                        mine = self._downloads[key] = _Download()
                    else:
                        self.waiters += 1
            if entry is not None:
                try:
                    place(entry.path, dest, link)
                finally:
                    with self._lock:
                        entry.pins -= 1
                return True
            if waiting is not None:
                try:
                    while not waiting.done.wait(WAIT_SLICE):
                        if cancelled():
                            raise FetchCancelled("killed while waiting for a download")
                finally:
                    with self._lock:
                        self.waiters -= 1
                if isinstance(waiting.error, FetchCancelled):
                    continue  # the task that downloaded it was killed: try again
                if waiting.error is not None:
                    raise waiting.error
                continue  # now cached (or too large to keep: then this call downloads)
            return self._download(key, mine, dest, download, link)

    def _download(
        self,
        key: str,
        mine: _Download,
        dest: Path,
        download: Callable[[Path], None],
        link: bool,
    ) -> bool:
        path = self._file_for(key)
        partial = path.with_suffix(".part")
        try:
            download(partial)
            os.chmod(partial, 0o444)  # linked into sandboxes: no task may write through it
            os.replace(partial, path)
            size = path.stat().st_size
            entry = Entry(key, size, path, pins=1)
            with self._lock:
                self.downloads += 1
                victims = self.index.admit(entry)
            for victim in victims or ():
                victim.path.unlink(missing_ok=True)
            try:
                place(path, dest, link)
            finally:
                with self._lock:
                    entry.pins -= 1
                if victims is None:  # larger than the whole cache: used once, not kept
                    path.unlink(missing_ok=True)
            return False
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            mine.error = exc
            raise
        finally:
            with self._lock:
                self._downloads.pop(key, None)
            mine.done.set()


def place(source: Path, dest: Path, link: bool = True) -> None:
    """Put ``source`` at ``dest``: a hard link (with ``link``), else a copy (sendfile or
    copy_file_range, which shares blocks on file systems that can)."""
    dest.unlink(missing_ok=True)
    if link:
        try:
            os.link(source, dest)
            return
        except OSError:
            pass  # another file system, or links not allowed: copy
    shutil.copyfile(source, dest)
    os.chmod(dest, 0o644)
