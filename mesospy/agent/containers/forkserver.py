"""The agent's side of its fork server (``forkserver_main``), which starts image tasks.

Started through util-linux, an image task costs a chain of programs before its own: the
shell that records its exit, ``unshare`` into new namespaces, a shell and ``mount`` for its
overlay root and sandbox, ``unshare`` into the root with a fresh /proc; about eight execs
and five forks, and most of an image task's start-up. The fork server makes the same
namespaces, mounts, root and user with system calls in one fork of itself and runs
nothing but the task's program (as Mesos's agent clones its containers itself).

One server per agent, started at the first image task (a Python process with nothing but
the standard library, in a session of its own). Requests go over a SOCK_SEQPACKET socket
pair from any worker thread, the task's stdin, stdout and stderr with each; a batch of
launches sends its requests one after the other (``submit``) and collects the pids as it
hands the tasks back to the loop (``collect``). A reader thread takes every message from
the server: the answers, in the order of the requests, and each task's end with its
status, passed to the callback ``watch`` registered for its pid (from that thread).

The server is the tasks' parent, not the agent: it records each task's exit status where
a restarted agent reads it, before the task's zombie goes, and keeps the zombie until
``release``. When the agent stops, the server keeps running until its last task ends.
When the server cannot start, ``submit`` raises ForkServerUnavailable and the task
starts through util-linux; when it dies, its tasks die with it (SIGKILL) and each watch
is called with None (the status unknown).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesospy.agent.spawn import spawn

log = logging.getLogger(__name__)

MAIN = Path(__file__).with_name("forkserver_main.py")
_SIGNALS = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
_READY_WAIT = 30.0
_FOR_GOOD = (errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR)
_ANSWER_WAIT = 60.0
READY = b'{"ready": true}'


class ForkServerUnavailable(Exception):
    """The fork server cannot take this task (not running, or the request too large)."""


@dataclass
class Ticket:
    """A request sent to the server; its answer once ``done`` is set."""

    pid: int | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False  # collect gave up waiting: a task it starts must not run

    def settle(self, answer: dict[str, Any]) -> None:
        self.pid = int(answer["pid"]) if "pid" in answer else None
        self.error = None if self.pid is not None else str(answer.get("error"))
        self.done.set()


OnExit = Callable[[int | None], None]


class ForkServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the socket, the pending tickets, the watches
        self._send_lock = threading.Lock()  # requests go one at a time, in ticket order
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        self._failed: str | None = None  # why it cannot start: not tried again
        self._closed = False
        self._pending: deque[Ticket] = deque()  # sent, not answered yet, in order
        self._watches: dict[int, OnExit] = {}
        self._ended: dict[int, int | None] = {}  # ends not watched yet
        self._live: set[int] = set()  # started by the running server, not ended yet
        self._unwanted: set[int] = set()  # started after collect gave up: killed

    def _ensure(self) -> socket.socket:
        """The socket to a running server, started first if need be (under the lock)."""
        if self._sock is not None:
            return self._sock
        if self._failed is not None or self._closed:
            raise ForkServerUnavailable(self._failed or "the agent is stopping")
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as exc:  # out of descriptors, for now: this task goes otherwise
            raise ForkServerUnavailable(f"the fork server cannot start: {exc}") from exc
        try:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                self._pid = spawn(
                    sys.executable,
                    [sys.executable, "-I", "-S", str(MAIN), "3"],
                    {"PATH": os.environ.get("PATH", os.defpath)},
                    [(null, 0), (null, 1), (theirs.fileno(), 3)],
                    _SIGNALS,
                )
            finally:
                os.close(null)
        except OSError as exc:
            ours.close()
            why = f"the fork server cannot start: {exc}"
            if exc.errno in _FOR_GOOD:  # no such Python here: not tried again
                self._failed = why
            log.warning("%s; image tasks start through util-linux", why)
            raise ForkServerUnavailable(why) from exc
        finally:
            theirs.close()
        # It says it is ready once it runs: one that cannot (no libc, a broken Python) is
        # never used, and its tasks start through util-linux.
        try:
            ours.settimeout(_READY_WAIT)
            ready = ours.recv(4096)
            ours.settimeout(None)
        except OSError as exc:
            ready = str(exc).encode()
        if ready != READY:
            ours.close()
            self._reap_server(kill=True)
            why = ready.decode(errors="replace") or "it exited"
            self._failed = f"the fork server did not start: {why}"
            log.warning("%s; image tasks start through util-linux", self._failed)
            raise ForkServerUnavailable(self._failed)
        log.info("fork server for image tasks started (pid %d)", self._pid)
        self._sock = ours
        threading.Thread(
            target=self._read, args=(ours,), name="forkserver-reader", daemon=True
        ).start()
        return ours

    def submit(self, request: dict[str, Any], fds: Sequence[int]) -> Ticket:
        """Send one task's request (``fds``: its stdin, stdout, stderr; the caller may
        close them once this returns); ``collect`` the ticket for its pid. Requests are
        sent without waiting for the answers before them: the server forks while the
        agent prepares the next task. Raises ForkServerUnavailable (the request was not
        taken: the task may start otherwise)."""
        data = json.dumps(request).encode()
        # The ticket is queued before the request goes, in the order the requests go (the
        # send lock); the reader, which takes the answers, needs only the state lock, so a
        # send that waits for room in the socket never holds it up.
        with self._send_lock:
            with self._lock:
                sock = self._ensure()
                ticket = Ticket()
                self._pending.append(ticket)
            try:
                socket.send_fds(sock, [data], list(fds))
            except OSError as exc:
                with self._lock:
                    if self._pending and self._pending[-1] is ticket:
                        self._pending.pop()
                if exc.errno == errno.EMSGSIZE:
                    raise ForkServerUnavailable(f"the task's request is too large: {exc}") from exc
                raise ForkServerUnavailable(f"the fork server is gone: {exc}") from exc
            return ticket

    def collect(self, ticket: Ticket) -> int:
        """The pid of the task's first process, once the server has answered. Raises
        OSError when it could not start the task, or died before it answered."""
        if not ticket.done.wait(_ANSWER_WAIT):
            with self._lock:
                ticket.abandoned = not ticket.done.is_set()
            if ticket.abandoned:
                raise OSError(f"the fork server did not answer in {_ANSWER_WAIT:g} s")
        if ticket.pid is None:
            raise OSError(f"the fork server could not start the task: {ticket.error}")
        return ticket.pid

    def start(self, request: dict[str, Any], fds: Sequence[int]) -> int:
        """``submit`` and ``collect`` in one."""
        return self.collect(self.submit(request, fds))

    def watch(self, pid: int, on_exit: OnExit) -> Callable[[], None]:
        """Call ``on_exit`` once (from the reader thread) with the exit status of the
        task ``pid`` when it ends (None if the server died first); at once if it has.
        Returns a function that stops watching."""
        with self._lock:
            if pid not in self._ended:
                self._watches[pid] = on_exit
                return lambda: self._unwatch(pid, on_exit)
            code = self._ended.pop(pid)
        on_exit(code)
        return lambda: None

    def _unwatch(self, pid: int, on_exit: OnExit) -> None:
        with self._lock:
            if self._watches.get(pid) is on_exit:
                del self._watches[pid]

    def release(self, pid: int) -> None:
        """The task ``pid`` has been seen to end: its zombie may go."""
        with self._lock:
            self._ended.pop(pid, None)
            self._watches.pop(pid, None)
            self._live.discard(pid)
            self._send_reap(pid)

    def _send_reap(self, pid: int) -> None:
        """(Under the lock.) A reap message needs no answer: it may go between requests."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.send(json.dumps({"reap": pid}).encode(), socket.MSG_DONTWAIT)

    def _read(self, sock: socket.socket) -> None:
        """The reader thread: every message from the server, until it closes."""
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._lost(sock)
                return
            try:
                message = json.loads(data)
            except ValueError:
                log.warning("the fork server sent %r: not understood", data[:200])
                continue
            if "exit" in message:
                pid = int(message["exit"])
                code = message.get("code")
                with self._lock:
                    self._live.discard(pid)
                    on_exit = self._watches.pop(pid, None)
                    if pid in self._unwanted:
                        self._unwanted.discard(pid)
                        self._send_reap(pid)
                    elif on_exit is None:
                        self._ended[pid] = code
                if on_exit is not None:
                    try:
                        on_exit(code)
                    except Exception:  # the reader must go on: every answer depends on it
                        log.exception("handling the end of task process %d failed", pid)
            else:
                with self._lock:
                    if "pid" in message:
                        self._live.add(int(message["pid"]))
                    if self._pending:
                        ticket = self._pending.popleft()
                        ticket.settle(message)
                        if ticket.abandoned and ticket.pid is not None:
                            self._unwanted.add(ticket.pid)  # reaped once it has ended
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(ticket.pid, signal.SIGKILL)

    def _lost(self, sock: socket.socket) -> None:
        """The socket closed: the agent closed it, or the server died (its tasks with
        it: each watch learns it, the status unknown; the next task starts a new one)."""
        with self._lock:
            if self._sock is not sock:
                return  # closed by close()
            log.warning("the fork server exited; starting another at the next image task")
            self._sock = None
            sock.close()
            while self._pending:
                self._pending.popleft().settle({"error": "the fork server exited first"})
            watches, self._watches = self._watches, {}
            # Its tasks died with it; those not watched yet learn it when they are.
            for pid in self._live - watches.keys():
                self._ended[pid] = None
            self._live = set()
            self._reap_server(kill=True)
        for pid, on_exit in watches.items():
            try:
                on_exit(None)
            except Exception:
                log.exception("handling the end of task process %d failed", pid)

    def _reap_server(self, *, kill: bool) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def close(self) -> None:
        """Stop talking to the server: it stays until its last task has ended (then
        exits: it is not waited for)."""
        with self._lock:
            self._closed = True
            sock, self._sock = self._sock, None
            while self._pending:
                self._pending.popleft().settle({"error": "the agent is stopping"})
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @property
    def pid(self) -> int | None:
        return self._pid
