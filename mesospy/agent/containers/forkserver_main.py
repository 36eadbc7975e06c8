"""The agent's fork server for image tasks: a small process of its own that starts each
image task in new mount and PID namespaces with mount(2), chroot(2) and a fresh /proc,
without running a single program but the task's (see ``forkserver``, its agent side).

Run as ``python -I -S forkserver_main.py FD``: FD is a SOCK_SEQPACKET socket to the agent.
Standard library only, and nothing of mesospy: the server must start fast and stay small,
as each task starts as a fork of it.

Once it runs, the server sends ``{"ready": true}``. A request is one JSON message with
three descriptors (the task's stdin, stdout, stderr):

    {"argv": [...], "env": {...}, "root": "/.../root", "workdir": "/srv",
     "make": [directories to make first, ...],
     "mounts": [[source, target, fstype, options, read_only], ...],
     "uid": 0, "gid": 0, "cgroups": [".../cgroup.procs", ...],
     "exit_log": "/.../exit-statuses" or null, "exit_file": "/.../status" or null,
     "sandbox": "/.../sandbox"}

and the answer is ``{"pid": N}`` (the task's first process, as the agent sees it) or
``{"error": "..."}``, in the order of the requests.

The task's first process is a fork of the server made after ``unshare(CLONE_NEWPID)``
(the server itself stays where it was, and goes back with ``setns`` after each fork): pid
1 of a namespace of its own, in a session and process group of its own. Before the
program it enters the task's cgroups (writing 0 to ``cgroup.procs``), makes its root's
directories, a new mount namespace with private propagation, the task's mounts (its
overlay root, sandbox, volumes), chroot into the root, the working directory, /proc for
its PID namespace, the task's user; then the program, looked up in the image's PATH. It
is SIGKILLed if the server dies. A failure before the program runs is written to the
task's stderr, and the task ends with status 125 (127 when the program is not found, 126
when it cannot be run).

The server is the parent of every task it started, and the one that learns how each
ended (a pidfd per task). It records the status as the task's shell would (``<status>
<pid> <sandbox>`` in the agent's exit log, or the status alone in ``exit_file``; 128 + N
for signal N), tells the agent ``{"exit": pid, "code": status}``, and keeps the zombie
until the agent answers ``{"reap": pid}``, so that the pid and process group id cannot be
taken by another process while the agent still signals them. When the agent's end of the
socket closes (the agent stopped or died) the tasks keep running: the server records and
reaps each as it ends, and exits after the last. A restarted agent re-adopts them, and
reads their records (written before the zombie goes).
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import errno
import gc
import json
import os
import resource
import selectors
import signal
import socket
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
MAX_REQUEST = 1 << 20
SETUP_FAILED = 125
READY = b'{"ready": true}'
_TASK_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


class SetupError(OSError):
    """The task's namespaces, mounts, root or user cannot be set up (an OSError: a failed
    request is answered with it, never ends the server)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    result = _libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data))
    _check(result, f"cannot mount {target}")


def _say(message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"mesospy: {message}\n".encode(errors="replace"))


def _container_init(request: dict[str, Any], fds: list[int]) -> None:
    """The task's first process (pid 1 of its namespace): never returns."""
    code = SETUP_FAILED
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        _check(
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "cannot set the death signal"
        )
        for path in request["cgroups"]:
            try:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)
            except OSError:
                raise SetupError("cannot enter the task cgroup") from None
        for path in request["make"]:
            os.makedirs(path, exist_ok=True)
        _check(_libc.unshare(CLONE_NEWNS), "cannot create a mount namespace")
        _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
        for source, target, fstype, options, read_only in request["mounts"]:
            if read_only:
                _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
            elif fstype:
                _mount(source, target, fstype, 0, options)
            else:
                _mount(source, target, None, MS_BIND, None)
        # Into the root before chroot: never a moment chrooted with a working directory
        # outside it (a health check entering then would start there).
        os.chdir(request["root"])
        os.chroot(request["root"])
        os.chdir(request["workdir"])
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        os.setgroups([])
        os.setgid(request["gid"])
        os.setuid(request["uid"])
        # A change of credentials clears the death signal: set it again.
        _check(
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "cannot set the death signal"
        )
        resource.setrlimit(resource.RLIMIT_NOFILE, _TASK_NOFILE)
        for number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)  # Python ignores the first two
        argv = request["argv"]
        try:
            os.execvpe(argv[0], argv, request["env"])
        except OSError as exc:
            code = 127 if exc.errno == errno.ENOENT else 126
            raise SetupError(f"cannot run {argv[0]!r}: {exc.strerror}") from exc
    except (SetupError, OSError, KeyError, TypeError, ValueError) as exc:
        _say(str(exc) if isinstance(exc, SetupError) else f"cannot set up the container: {exc}")
    except BaseException:
        _say("cannot set up the container")
    finally:
        os._exit(code)


def _record(task: dict[str, Any], pid: int, code: int) -> None:
    """The task's exit status where the agent reads it (as its shell would write it)."""
    try:
        if task.get("exit_log"):
            line = f"{code} {pid} {task['sandbox']}\n"
            # Made if missing: the agent may be between rotating it and making a new one.
            fd = os.open(task["exit_log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, os.fsencode(line))
            finally:
                os.close(fd)
        elif task.get("exit_file"):
            fd = os.open(task["exit_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, f"{code}\n".encode())
            finally:
                os.close(fd)
    except OSError:
        pass


def _ignore(signum: int, frame: object) -> None:
    """TERM, INT and HUP do not end the server (its tasks get the defaults back)."""


def _code_of(result: os.waitid_result) -> int:
    """A waitid result as a shell's status: the exit code, or 128 + the signal."""
    if result.si_code == os.CLD_EXITED:
        return int(result.si_status)
    return 128 + int(result.si_status)


_FDS_SPACE = socket.CMSG_SPACE(8 * array.array("i").itemsize)


def _receive(sock: socket.socket, buffer: bytearray) -> tuple[bytes, list[int], int]:
    """One message into ``buffer`` (reused: no allocation per request) and the
    descriptors that came with it."""
    size, ancillary, flags, _ = sock.recvmsg_into([buffer], _FDS_SPACE)
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return bytes(buffer[:size]), list(fds), flags


class Server:
    """The server's state: its socket to the agent, and the tasks it started."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)
        self.tasks: dict[int, tuple[int, dict[str, Any]]] = {}  # pid: (pidfd, record info)
        self.zombies: set[int] = set()  # ended, told to the agent, not reaped yet
        self.own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.buffer = bytearray(MAX_REQUEST)

    def run(self) -> None:
        assert self.sock is not None
        self.sock.send(READY)
        while self.sock is not None or self.tasks:
            for key, _ in self.selector.select():
                if key.fileobj is self.sock:
                    self.serve_agent()
                else:
                    self.ended(int(key.data))

    def send(self, message: dict[str, Any]) -> None:
        if self.sock is not None:
            try:
                self.sock.send(json.dumps(message).encode())
            except OSError:
                self.agent_gone()

    def agent_gone(self) -> None:
        """Nobody will reap the zombies: reap them now, and each task as it ends."""
        if self.sock is None:
            return
        self.selector.unregister(self.sock)
        self.sock.close()
        self.sock = None
        for pid in list(self.zombies):
            self.reap(pid)

    def serve_agent(self) -> None:
        assert self.sock is not None
        try:
            data, fds, flags = _receive(self.sock, self.buffer)
        except InterruptedError:
            return
        except OSError:
            data, fds, flags = b"", [], 0
        if not data:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.agent_gone()
            return
        try:
            request = json.loads(data)
            if "reap" in request:
                self.reap(int(request["reap"]))
                return
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 3:
                raise ValueError("a request needs its message whole and three descriptors")
            answer: dict[str, Any] = {"pid": self.start(request, fds)}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            answer = {"error": str(exc)}
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.send(answer)
        if self.sock is None and "pid" in answer:
            # The agent never heard of it: it must not run.
            with contextlib.suppress(ProcessLookupError):
                os.kill(answer["pid"], signal.SIGKILL)

    def start(self, request: dict[str, Any], fds: list[int]) -> int:
        _check(_libc.unshare(CLONE_NEWPID), "cannot create a PID namespace")
        try:
            pid = os.fork()
            if pid == 0:
                try:  # nothing in the child may return into the server's loop
                    if self.sock is not None:
                        self.sock.close()
                    _container_init(request, fds)
                finally:
                    os._exit(SETUP_FAILED)
        finally:
            _check(_libc.setns(self.own_pid_ns, CLONE_NEWPID), "cannot leave the PID namespace")
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            os.kill(pid, signal.SIGKILL)  # a task it cannot watch must not run
            os.waitpid(pid, 0)
            raise
        record = {key: request.get(key) for key in ("exit_log", "exit_file", "sandbox")}
        self.tasks[pid] = (pidfd, record)
        self.selector.register(pidfd, selectors.EVENT_READ, pid)
        return pid

    def ended(self, pid: int) -> None:
        """A task ended: its status recorded (before the zombie can go), then told."""
        pidfd, record = self.tasks[pid]
        self.selector.unregister(pidfd)
        try:
            result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            result = None
        code = _code_of(result) if result is not None else SETUP_FAILED
        _record(record, pid, code)
        self.zombies.add(pid)
        self.send({"exit": pid, "code": code})
        if self.sock is None:
            self.reap(pid)

    def reap(self, pid: int) -> None:
        if pid not in self.zombies:
            return
        self.zombies.discard(pid)
        pidfd, _ = self.tasks.pop(pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(pidfd)


def serve(sock: socket.socket) -> None:
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, _ignore)
    # Every fork shares the server's pages until one side writes to them: the collector
    # walking every object would copy them all, in the server and in each child.
    gc.disable()
    gc.freeze()
    # A pidfd per running task: as many descriptors as the system lets it have.
    # (Its tasks get back the limit it was started with.)
    soft, hard = _TASK_NOFILE
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    Server(sock).run()


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
