"""A real ZooKeeper server for tests, with fault injection.

Tests of leader election and the registry run against the real thing (Debian's
``zookeeper`` package, started with java on a free loopback port in a temp dir), never a
mock: the behaviours that matter (session expiry, ephemeral nodes vanishing, watches firing
after a reconnect) are exactly the ones a mock gets wrong.

Faults, in the spirit of kazoo's own test harness:

- ``expire_session(client)``: the server expires the client's session (its ephemeral nodes
  go); the client sees LOST and later starts a new session.
- ``drop_connection(client)``: the client's TCP connection breaks; it sees SUSPENDED, then
  reconnects within the same session.
- ``paused()``: the whole server freezes (SIGSTOP) as in a partition; every client goes
  SUSPENDED, and sessions older than their timeout expire once it resumes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import KazooState

from mesospy.cluster import free_port

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
ZOOKEEPER_CONF_DIR = Path("/etc/zookeeper/conf")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


class ZooKeeperUnavailable(RuntimeError):
    """ZooKeeper cannot be started here (java or the jar missing, or it never answered)."""


def four_letter_word(port: int, word: str, timeout: float = 1.0) -> str:
    """Send one of ZooKeeper's four-letter admin words (``ruok``, ``stat``...); the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


class ZooKeeperServer:
    """One standalone ZooKeeper on ``127.0.0.1:<free port>``, its data in a temp dir.

    ``tick_time_ms`` is short so that sessions (minimum 2 ticks) can expire fast in tests.
    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, tick_time_ms: int = 500, max_session_timeout_ms: int = 30_000) -> None:
        self.tick_time_ms = tick_time_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self.port = 0
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        """The connection string for a client: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (on a new free port the first time); wait until it serves.

        A restart after ``stop()`` reuses the port and data dir, so sessions survive a
        restart that is shorter than their timeout.
        """
        java = shutil.which("java")
        if java is None:
            raise ZooKeeperUnavailable(
                "java not found: install ZooKeeper with `apt-get install -y zookeeper`"
            )
        if not ZOOKEEPER_JAR.exists():
            raise ZooKeeperUnavailable(
                f"{ZOOKEEPER_JAR} not found: install ZooKeeper with `apt-get install -y zookeeper`"
            )
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="mesospy-zk-"))
        # A port picked free may be taken before java binds it: try a few.
        attempts = 1 if self.port else 3
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            self._launch(java)
            if self._wait_ready(timeout):
                return
            self.kill()
        raise ZooKeeperUnavailable(
            f"ZooKeeper did not answer ruok on {self.hosts} within {timeout}s; "
            f"its log ends with:\n{self._log_tail()}"
        )

    def _launch(self, java: str) -> None:
        assert self._dir is not None
        data_dir = self._dir / "data"
        data_dir.mkdir(exist_ok=True)
        cfg = self._dir / "zoo.cfg"
        cfg.write_text(
            f"tickTime={self.tick_time_ms}\n"
            f"dataDir={data_dir}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            f"minSessionTimeout={2 * self.tick_time_ms}\n"
            f"maxSessionTimeout={self.max_session_timeout_ms}\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=*\n"
            # Tests write many nodes quickly; skip fsync latency (data lives in a temp dir).
            "forceSync=no\n"
        )
        log = (self._dir / "zookeeper.log").open("ab")
        classpath = f"{ZOOKEEPER_CONF_DIR}:{ZOOKEEPER_JAR}"
        self._proc = subprocess.Popen(
            [java, "-Xmx256m", "-cp", classpath, MAIN_CLASS, str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._dir,
            env={**os.environ, "ZOO_LOG_DIR": str(self._dir)},
        )
        log.close()

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            with contextlib.suppress(OSError):
                # ruok answers before the server takes sessions; srvr tells when it does.
                if four_letter_word(self.port, "ruok") == "imok" and four_letter_word(
                    self.port, "srvr"
                ).startswith("Zookeeper version"):
                    return True
            time.sleep(0.05)
        return False

    def _log_tail(self, lines: int = 20) -> str:
        if self._dir is None or not (self._dir / "zookeeper.log").exists():
            return "(no log)"
        text = (self._dir / "zookeeper.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); the data dir is kept for a restart."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)  # in case it was paused
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server at once."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same port and data (clients reconnect)."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the server and remove its temp dir."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ clients and faults

    def client(self, timeout: float = 2.0, **kwargs: Any) -> KazooClient:
        """A started KazooClient with a ``timeout``-second session; the caller stops it."""
        client = KazooClient(hosts=self.hosts, timeout=timeout, **kwargs)
        client.start(timeout=15)
        return client

    def expire_session(self, client: KazooClient, timeout: float = 15.0) -> None:
        """Make the server expire ``client``'s session; return once the client saw LOST.

        A second connection that presents the same session id and password and then
        closes ends the session on the server, as a real expiry does.
        """
        lost = threading.Event()

        def watch(state: KazooState) -> None:
            if state == KazooState.LOST:
                lost.set()

        client.add_listener(watch)
        try:
            session_id, password = client.client_id
            other = KazooClient(hosts=self.hosts, client_id=(session_id, password))
            other.start(timeout=15)
            other.stop()
            other.close()
            # The original client learns of the expiry on its next contact with the server.
            if not lost.wait(timeout):
                raise TimeoutError(f"client did not see its session expire within {timeout}s")
        finally:
            client.remove_listener(watch)

    def drop_connection(self, client: KazooClient) -> None:
        """Break ``client``'s TCP connection (it goes SUSPENDED, then reconnects)."""
        # kazoo keeps its socket on the connection object; shutting it down looks to the
        # client exactly like a network failure.
        sock = client._connection._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Freeze the server (SIGSTOP) for the duration of the block, as in a partition."""
        assert self._proc is not None, "server not running"
        self._proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGCONT)


class ZooKeeperSandbox:
    """One test's corner of a shared server: a unique path and the clients it opened.

    ``path`` (``/t-<uuid>``) is the cluster path for the test; ``url`` is the matching
    ``zk://`` URL. ``close()`` stops the clients and deletes the path.
    """

    def __init__(self, server: ZooKeeperServer) -> None:
        self.server = server
        self.path = f"/t-{uuid.uuid4().hex[:12]}"
        self._clients: list[KazooClient] = []

    @property
    def hosts(self) -> str:
        return self.server.hosts

    @property
    def url(self) -> str:
        return f"zk://{self.server.hosts}{self.path}"

    def client(self, timeout: float = 2.0, **kwargs: Any) -> KazooClient:
        """A started KazooClient (``timeout``-second session), stopped by ``close()``."""
        client = self.server.client(timeout=timeout, **kwargs)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.stop()
                client.close()
        self._clients.clear()
        if self.server.running:
            cleaner = self.server.client()
            try:
                _delete_tree(cleaner, self.path)
            finally:
                cleaner.stop()
                cleaner.close()


def _delete_tree(client: KazooClient, path: str) -> None:
    """Delete ``path`` and everything below it, pipelining requests level by level.

    kazoo's recursive delete waits for each node in turn: minutes for a 10k-agent registry.
    """
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    nodes = [f"{path.rstrip('/')}/{child}" for child in children]
    listings = [(node, client.get_children_async(node)) for node in nodes]
    leaves = []
    for node, listing in listings:
        with contextlib.suppress(NoNodeError):
            if listing.get():
                _delete_tree(client, node)
            else:
                leaves.append(node)
    # Leaves go in multi-op transactions: one request (and one commit) per thousand.
    for start in range(0, len(leaves), 1000):
        transaction = client.transaction()
        for node in leaves[start : start + 1000]:
            transaction.delete(node)
        if any(isinstance(result, Exception) for result in transaction.commit()):
            # Some vanished meanwhile (ephemeral nodes): the batch rolled back; go one by one.
            for node in leaves[start : start + 1000]:
                with contextlib.suppress(NoNodeError):
                    client.delete(node)
    with contextlib.suppress(NoNodeError):
        client.delete(path)
