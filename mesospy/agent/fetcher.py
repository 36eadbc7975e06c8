"""The fetcher: a task's artifacts (``CommandInfo.uris``) put into its sandbox before it
starts, as Mesos's fetcher does.

Each URI (``http://``, ``https://``, ``file://`` or a path on the agent) is downloaded, its
``sha256:`` checksum verified as it streams, and saved under ``output_file`` or its
basename; archives are unpacked beside it (``mesospy.agent.archives``) unless ``extract``
is false; ``executable`` makes the file executable. With ``cache``, the artifact goes
through the agent's cache (``mesospy.agent.fetch_cache``). No URI may bring more than
``max_size`` bytes, downloaded or unpacked. What happens is written to the task's stderr
file. Blocking: runs in the fetcher's own worker threads, never on the event loop; a task
killed meanwhile has its download's socket shut down, so the fetch stops at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from mesospy.agent import archives
from mesospy.agent.fetch_cache import FetchCancelled, FetcherCache, cache_key
from mesospy.uris import archive_kind, destination, local_path, wants_extract
from mesospy.v1 import common_pb2

URI = common_pb2.CommandInfo.URI
CHUNK = 1 << 20
SOCKET_TIMEOUT = 60.0  # one connect or read that takes longer fails the fetch
WORKERS = 8
PROGRESS_EVERY = 64 << 20  # a progress line per this many bytes

__all__ = ["Cancellation", "FetchCancelled", "FetchError", "Fetcher"]


class FetchError(Exception):
    """A URI could not be fetched; the message names the URI and the cause."""


class Cancellation:
    """Set when the task is killed: stops its fetch, shutting down open downloads."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def cancel(self) -> None:
        """Safe from any thread (the event loop calls it)."""
        self._event.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise FetchCancelled("killed while fetching")

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._event.is_set():
            sock.shutdown(socket.SHUT_RDWR)

    def unwatch(self, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is not None:
                self._sockets.discard(sock)


class Fetcher:
    """Fetches artifacts into sandboxes; one per agent, shared by its tasks."""

    def __init__(self, cache_dir: Path, cache_size: int, max_size: int) -> None:
        self.cache = FetcherCache(cache_dir, cache_size)
        self.max_size = max_size
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="fetcher")
        self._ssl = ssl.create_default_context()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def fetch_all(
        self,
        uris: list[URI],
        sandbox: Path,
        log_fd: int,
        cancel: Cancellation,
        owner: tuple[int, int] | None = None,
    ) -> None:
        """Fetch every URI into ``sandbox``, in order; progress goes to ``log_fd``. Raises
        FetchError (or FetchCancelled)."""
        log = _Log(log_fd)
        linked: set[tuple[int, int]] = set()  # (device, inode) of the cache's shared files
        for uri in uris:
            cancel.check()
            self._fetch_one(uri, sandbox, log, cancel, linked)
        if owner is not None:
            _chown_tree(sandbox, owner, skip=linked)

    def _fetch_one(
        self,
        uri: URI,
        sandbox: Path,
        log: _Log,
        cancel: Cancellation,
        linked: set[tuple[int, int]],
    ) -> None:
        started = time.monotonic()
        name = destination(uri)
        dest = sandbox / name
        try:
            # Before anything is made: an earlier artifact's links may not lead it out.
            if not _within(sandbox, dest.parent):
                raise FetchError(f"fetch of {uri.value} failed: {name!r} leads out of the sandbox")
            dest.parent.mkdir(parents=True, exist_ok=True)
            log.write(f"fetching {uri.value} into {name}")
            hit = False
            if uri.cache:
                key = cache_key(uri.value, uri.checksum)
                # An executable gets a copy of its own: a chmod of a hard link would change
                # the cached file, and every other sandbox's link to it.
                hit = self.cache.fetch_into(
                    key,
                    dest,
                    lambda path: self._download(uri, path, cancel, log),
                    cancel.is_set,
                    link=not uri.executable,
                )
                if not uri.executable:
                    st = dest.stat()
                    linked.add((st.st_dev, st.st_ino))
            else:
                partial = dest.with_name(dest.name + ".fetching")
                try:
                    self._download(uri, partial, cancel, log)
                    os.replace(partial, dest)
                finally:
                    partial.unlink(missing_ok=True)
            if uri.executable:
                os.chmod(dest, 0o755)
            size = dest.stat().st_size
            kind = archive_kind(dest.name) if wants_extract(uri) else None
            if kind is not None:
                log.write(f"extracting {name}")
                archives.extract(dest, kind, dest.parent, self.max_size, cancel.is_set)
            cancel.check()
        except FetchCancelled:
            log.write(f"fetch of {uri.value} stopped: the task was killed")
            raise
        except archives.ArchiveError as exc:
            cancel.check()
            raise self._failed(log, uri, str(exc)) from exc
        except FetchError as exc:
            log.write(str(exc))
            raise
        except OSError as exc:
            cancel.check()
            raise self._failed(log, uri, _describe_os_error(exc)) from exc
        except Exception as exc:
            # Whatever else an artifact makes the standard library raise must fail the
            # task, not leave it launching for good.
            cancel.check()
            raise self._failed(log, uri, f"{type(exc).__name__}: {exc}") from exc
        if uri.checksum and not hit:
            log.write(f"checksum {uri.checksum.lower()} verified")
        source = "from the cache" if hit else "downloaded"
        log.write(
            f"fetched {uri.value} ({size} bytes, {source}) in {time.monotonic() - started:.2f}s"
        )

    def _failed(self, log: _Log, uri: URI, cause: str) -> FetchError:
        error = FetchError(f"fetch of {uri.value} failed: {cause}")
        log.write(str(error))
        return error

    # ---------------------------------------------------------------- sources

    def _download(self, uri: URI, path: Path, cancel: Cancellation, log: _Log) -> None:
        """Save the URI's bytes at ``path``, checking size and checksum as they come."""
        local = local_path(uri.value)
        try:
            with open(path, "wb") as out:
                if local is not None:
                    digest = self._copy_local(uri, local, out, cancel, log)
                else:
                    digest = self._copy_http(uri, out, cancel, log)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        expected = uri.checksum.lower()
        if expected and f"sha256:{digest}" != expected:
            path.unlink(missing_ok=True)
            raise FetchError(
                f"fetch of {uri.value} failed: checksum mismatch: expected {expected}, "
                f"got sha256:{digest}"
            )

    def _copy_local(
        self, uri: URI, source: str, out: BinaryIO, cancel: Cancellation, log: _Log
    ) -> str:
        try:
            src = open(source, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise FetchError(f"fetch of {uri.value} failed: {_describe_os_error(exc)}") from exc
        with src:
            if not os.path.isfile(source):
                raise FetchError(f"fetch of {uri.value} failed: {source!r} is not a file")
            return self._stream(uri, src, out, cancel, log, os.fstat(src.fileno()).st_size)

    def _copy_http(self, uri: URI, out: BinaryIO, cancel: Cancellation, log: _Log) -> str:
        handlers: list[urllib.request.BaseHandler] = [
            _HTTPHandler(cancel),
            _HTTPSHandler(cancel, self._ssl),
        ]
        if _loopback(uri.value):
            # A proxy (from the environment) cannot reach this machine's loopback.
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(uri.value, headers={"User-Agent": "mesospy-fetcher"})
        try:
            with opener.open(request, timeout=SOCKET_TIMEOUT) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_size:
                    raise FetchError(
                        f"fetch of {uri.value} failed: {length} bytes is more than "
                        f"{self.max_size} (--fetcher-max-size)"
                    )
                total = int(length) if length and length.isdigit() else None
                return self._stream(uri, response, out, cancel, log, total)
        except urllib.error.HTTPError as exc:
            raise FetchError(f"fetch of {uri.value} failed: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            cancel.check()
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, OSError):
                reason = _describe_os_error(reason)
            cause = reason or type(exc).__name__
            raise FetchError(f"fetch of {uri.value} failed: {cause}") from exc

    def _stream(
        self,
        uri: URI,
        src: Any,
        out: BinaryIO,
        cancel: Cancellation,
        log: _Log,
        expected: int | None,
    ) -> str:
        digest = hashlib.sha256()
        total = 0
        of = f" of {expected >> 20} MB" if expected else ""
        while chunk := src.read(CHUNK):
            cancel.check()
            before, total = total, total + len(chunk)
            if total // PROGRESS_EVERY > before // PROGRESS_EVERY:
                log.write(f"{total >> 20} MB{of} of {uri.value}")
            if total > self.max_size:
                raise FetchError(
                    f"fetch of {uri.value} failed: more than {self.max_size} bytes "
                    "(--fetcher-max-size)"
                )
            digest.update(chunk)
            out.write(chunk)
        cancel.check()  # a shut-down socket reads as the end of the body
        return digest.hexdigest()


class _Log:
    """Lines to the task's stderr file."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self._fd, f"mesospy-fetcher: {line}\n".encode(errors="replace"))


def _loopback(value: str) -> bool:
    host = urlsplit(value).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _within(sandbox: Path, path: Path) -> bool:
    root = os.path.realpath(sandbox)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _chown_tree(root: Path, owner: tuple[int, int], skip: set[tuple[int, int]]) -> None:
    """Give the task's user what was fetched (not the cache's shared, read-only files)."""
    uid, gid = owner
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = os.path.join(directory, name)
            st = os.lstat(path)
            if (st.st_dev, st.st_ino) not in skip:
                os.lchown(path, uid, gid)


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if exc.strerror:
        return f"{exc.strerror}: {exc.filename!r}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


# ------------------------------------------------------------------ http plumbing
# urllib does redirects, proxies from the environment and TLS; these connection classes
# only tell the Cancellation which socket to shut down when the task is killed.


class _WatchedHTTP(http.client.HTTPConnection):
    def __init__(self, *args: Any, cancellation: Cancellation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cancellation = cancellation

    def connect(self) -> None:
        super().connect()
        self._cancellation.watch(self.sock)

    def close(self) -> None:
        self._cancellation.unwatch(self.sock)
        super().close()


class _WatchedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args: Any, cancellation: Cancellation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cancellation = cancellation

    def connect(self) -> None:
        super().connect()
        self._cancellation.watch(self.sock)

    def close(self) -> None:
        self._cancellation.unwatch(self.sock)
        super().close()


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, cancellation: Cancellation) -> None:
        super().__init__()
        self._cancellation = cancellation

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(_WatchedHTTP, self._cancellation), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, cancellation: Cancellation, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._cancellation = cancellation
        self._ctx = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(_WatchedHTTPS, self._cancellation), req, context=self._ctx)


def _connection(cls: type[Any], cancellation: Cancellation) -> Callable[..., Any]:
    def make(*args: Any, **kwargs: Any) -> Any:
        return cls(*args, cancellation=cancellation, **kwargs)

    return make
