"""Spawning task processes and learning when they end.

Each process starts in a session of its own, so its whole tree can be signalled as one
process group. ``start()`` is safe in a worker thread: shell tasks (``/bin/sh -c ...``, the
common case and every cgroup-wrapped task) are spawned with libc's posix_spawn called
without the GIL (``mesospy.agent.spawn``; CPython's ``os.posix_spawn`` holds it until the
child has exec'd), so the event loop keeps serving updates and acks meanwhile; anything
else (argv tasks, tasks run as another user) goes through ``subprocess.Popen``. Exits are
watched through a pidfd registered with the event loop: no child-watcher thread per
process, no polling.

A task run as another user is spawned the same way, its shell switching user through
``setpriv`` (util-linux): ``Popen(user=...)`` has to fork() the agent, and in a forked child
of a busy gRPC process gRPC's own fork handlers crash it now and then (SIGSEGV, SIGABRT)
before it can exec. Popen is the fallback only where setpriv is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesospy.agent.exit_status import EXIT_FILE
from mesospy.agent.spawn import spawn

STDOUT = "stdout"
STDERR = "stderr"
SHELL = "/bin/sh"
# Every signal starts with its default action in a task (subprocess's restore_signals
# resets only SIGPIPE and SIGXFSZ, which Python ignores). glibc's own internal signals (32,
# 33) cannot be named: its posix_spawn leaves them ignored, harmless for programs (glibc's
# SIGRTMIN is 34; glibc installs its handlers for them when it needs them).
_DEFAULT_SIGNALS = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


@dataclass
class LaunchSpec:
    """Everything needed to start one task process."""

    argv: list[str]
    env: dict[str, str]
    sandbox: Path
    user: str | None = None


def describe_exit(returncode: int) -> tuple[str, int]:
    """A person's description of a Popen return code, and the shell-style exit code
    (128 + signal number for a signal, as ``sh`` reports it)."""
    if returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {sig} ({name})", 128 + sig
    return f"exited with status {returncode}", returncode


class TaskLauncher:
    """Starts processes in sandboxes and calls back when they end."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.running_as_root = os.geteuid() == 0

    @staticmethod
    def seal_descriptors() -> None:
        """Make every descriptor above stderr close-on-exec. posix_spawn does not close
        descriptors one by one as Popen(close_fds=True) does: this keeps what the agent
        inherited from its parent, or a library opened without O_CLOEXEC, out of tasks.
        Python and gRPC open theirs close-on-exec already; this runs once per launch batch
        (a few microseconds per open descriptor), in the worker thread."""
        try:
            names = os.listdir("/proc/self/fd")
        except OSError:
            return
        for name in names:
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    if os.get_inheritable(fd):
                        os.set_inheritable(fd, False)

    @property
    def devnull(self) -> int:
        """The agent's /dev/null, every task's stdin."""
        return self._devnull

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._devnull)

    def user_of(self, spec: LaunchSpec) -> str | None:
        """The user the task is switched to; None when it runs as the agent's own (an
        agent that is not root runs every task as itself)."""
        return spec.user if spec.user and self.running_as_root else None

    def make_sandbox(self, sandbox: Path, user: str | None) -> None:
        try:
            sandbox.mkdir()
        except FileNotFoundError:
            sandbox.mkdir(parents=True)
        except FileExistsError:
            # A task id used again: an exit status its earlier run wrote must not pass
            # for this run's.
            (sandbox / EXIT_FILE).unlink(missing_ok=True)
        if user and self.running_as_root:
            record = pwd.getpwnam(user)
            os.chown(sandbox, record.pw_uid, record.pw_gid)

    def prepare(self, spec: LaunchSpec) -> tuple[int, int]:
        """Make the sandbox and open its stdout and stderr files (safe in a worker thread).
        Raises OSError, or KeyError for an unknown user."""
        user = self.user_of(spec)
        record = pwd.getpwnam(user) if user is not None else None
        self.make_sandbox(spec.sandbox, user)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        out = os.open(spec.sandbox / STDOUT, flags, 0o644)
        try:
            err = os.open(spec.sandbox / STDERR, flags, 0o644)
        except OSError:
            os.close(out)
            raise
        if record is not None:
            os.fchown(out, record.pw_uid, record.pw_gid)
            os.fchown(err, record.pw_uid, record.pw_gid)
        return out, err

    def discard(self, files: tuple[int, int] | None) -> None:
        for fd in files or ():
            with contextlib.suppress(OSError):
                os.close(fd)

    def start(
        self, spec: LaunchSpec, files: tuple[int, int] | None = None
    ) -> int | subprocess.Popen[bytes]:
        """Start the process with the files from prepare() (made now if not given; closed
        either way): its pid (posix_spawn; reap it with os.waitpid), or the Popen that
        started it. Safe in a worker thread. Raises OSError, or KeyError for an unknown
        user."""
        out, err = files if files is not None else self.prepare(spec)
        user = self.user_of(spec)
        argv = spec.argv
        try:
            shell = len(argv) >= 3 and argv[0] == SHELL and argv[1] == "-c"
            if shell and (user is None or SETPRIV is not None):
                # No chdir file action before Python 3.13: the shell changes directory
                # itself (a builtin: nothing runs before it, in or out of any cgroup).
                cd = f"cd -- {shlex.quote(str(spec.sandbox))} || exit 127\n"
                if user is None:
                    args = [SHELL, "-c", cd + argv[2], *argv[3:]]
                else:
                    # As root it enters the sandbox (its parents may be closed to the
                    # user), then becomes the user and runs the script in a new shell.
                    record = pwd.getpwnam(user)
                    switch = shlex.join(
                        [
                            str(SETPRIV),
                            f"--reuid={record.pw_uid}",
                            f"--regid={record.pw_gid}",
                            "--clear-groups",
                            "--",
                            SHELL,
                            "-c",
                        ]
                    )
                    args = [SHELL, "-c", f'{cd}exec {switch} "$0" "$@"', argv[2], *argv[3:]]
                return spawn(
                    SHELL,
                    args,
                    spec.env,
                    [(self._devnull, 0), (out, 1), (err, 2)],
                    _DEFAULT_SIGNALS,
                )
            return subprocess.Popen(
                spec.argv,
                stdin=self._devnull,
                stdout=out,
                stderr=err,
                cwd=spec.sandbox,
                env=spec.env,
                close_fds=True,
                start_new_session=True,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user is not None else None,
                extra_groups=[] if user is not None else None,
            )
        finally:
            self.discard((out, err))

    def watch(self, pid: int, on_exit: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_exit`` once, from the loop, when ``pid`` ends (the process stays a
        zombie until reaped, so its pid and process group cannot be reused meanwhile).
        Returns a function that stops watching. Works for processes that are not our
        children too (re-adopted after an agent restart)."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._loop.call_soon(on_exit)
            return lambda: None
        done = False

        def fire() -> None:
            nonlocal done
            if done:
                return
            done = True
            self._loop.remove_reader(fd)
            os.close(fd)
            on_exit()

        def stop() -> None:
            nonlocal done
            if not done:
                done = True
                self._loop.remove_reader(fd)
                os.close(fd)

        self._loop.add_reader(fd, fire)
        return stop

    async def run_command(
        self, argv: list[str], env: dict[str, str], cwd: Path, timeout: float
    ) -> int | None:
        """Run a short command (a health check) to completion; its return code, or None
        when it timed out (it is then killed with its process group)."""
        proc = subprocess.Popen(
            argv,
            stdin=self._devnull,
            stdout=self._devnull,
            stderr=self._devnull,
            cwd=cwd,
            env=env,
            close_fds=True,
            start_new_session=True,
        )
        ended = self._loop.create_future()
        stop = self.watch(proc.pid, lambda: _settle(ended))
        try:
            await asyncio.wait_for(ended, timeout)
        except TimeoutError:
            stop()
            kill_group(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            return None
        except asyncio.CancelledError:
            stop()
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        kill_group(proc.pid, signal.SIGKILL)
        return proc.wait()


def kill_group(pgid: int, sig: int) -> None:
    """Signal a task's process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
