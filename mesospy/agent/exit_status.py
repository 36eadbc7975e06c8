"""A task's exit status, kept where a restarted agent can read it.

Tasks are the agent's children: if the agent dies, a task that ends meanwhile is reaped by
someone else and its exit status is gone. So each task records its status as it ends; a
recovering agent reads the record instead of reporting "exit status unknown". A shell
command does it from an EXIT trap in its own shell (no extra process); an argv program runs
under a small shell that waits for it and records the status.

Tasks run as the agent's own user append one line (``<status> <pid> <sandbox>``) to the
agent's exit log: a line appended to an open file costs the task's shell almost nothing,
where a file of its own per task is one more inode to make (on ext4 without a journal,
right after many deletions, ~0.4 ms of the task's CPU: a fifth of all the work a `true`
task costs). A task run as another user cannot be let write where other users' tasks
record theirs: it writes a file in its own sandbox, as every task did before.

The agent reads the record only for a task that is not its child (it ended while the agent
was down, or was re-adopted after a restart); its own children it reaps. The log is rotated
once it passes ``ROTATE_BYTES`` (one older generation kept, read too).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

EXIT_FILE = ".mesospy-exit-status"
EXIT_LOG = "exit-statuses"
ROTATE_BYTES = 1 << 20

# A shell command records its status from its own shell's EXIT trap, which sees every way
# the script ends (`exit N`, the last command's status, a failed command under `set -e`).
# The waiting shell of an argv program outlives a SIGTERM to the task's process group (a
# handler, unlike an ignored signal, is reset in the program), so the program's own
# handling and the kill grace period hold.
_GUARD = "trap : TERM INT HUP\n"


_SANDBOX_WRITE = f'echo "$rc" > "$MESOS_SANDBOX/{EXIT_FILE}"'


def _never_fails(write: str) -> str:
    """``write``, silenced and unable to fail: under ``set -e`` a failed redirection in the
    EXIT trap would end the shell with its own status instead of the task's."""
    return f"{{ {write}; }} 2>/dev/null || :"


class ExitLog:
    """The agent's record of how its tasks ended (see the module's docstring)."""

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / EXIT_LOG
        self.older = work_dir / f"{EXIT_LOG}.1"
        # What has been read so far: the newest status by (sandbox, pid), from the older
        # file as it was (inode, size) and the current one (inode) up to `_offset` bytes.
        self._read: dict[tuple[str, int], int] = {}
        self._files: tuple[int, int, int] = (-1, -1, -1)
        self._offset = 0

    def create(self) -> None:
        """Make the log if it is missing, writable by the agent's user whatever the umask
        (the agent makes it, not the first task's shell)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)

    def recording(
        self, argv: list[str], env: Mapping[str, str], sandbox: Path, *, own_user: bool
    ) -> list[str]:
        """The command line that runs ``argv`` and records its exit status: in the log for
        a task of the agent's own user, in its sandbox otherwise.

        A program that cannot be found raises FileNotFoundError here, as spawning it
        directly would: that is a launch failure, not an exit status of 127.
        """
        if own_user:
            # printf, not echo: dash's echo would read backslashes in the path as escapes.
            where = f"{shlex.quote(str(sandbox))} >> {shlex.quote(str(self.path))}"
            write = _never_fails(f'printf \'%s %s %s\\n\' "$rc" "$$" {where}')
        else:
            write = _never_fails(_SANDBOX_WRITE)
        if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3:
            trap = f"trap 'rc=$?; {_escape(write)}; exit \"$rc\"' EXIT\n"
            return ["/bin/sh", "-c", trap + argv[2]]
        program = argv[0]
        if "/" in program and not os.path.isabs(program):
            program = str(sandbox / program)  # "./tool/run": in the sandbox, where it runs
        if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
        record = f'rc=$?\n{write}\nexit "$rc"'
        return ["/bin/sh", "-c", f'{_GUARD}"$@"\n{record}', "mesospy-task", *argv]

    def exit_code(self, sandbox: Path, pid: int | None) -> int | None:
        """What the task in ``sandbox`` (started as ``pid``, if known) recorded as it
        ended, or None if it recorded nothing (killed first, or still running). The log
        first (tasks of the agent's user), then the sandbox's file (other users' tasks)."""
        # Without the pid (the agent died before checkpointing it) a line cannot be told
        # from one an earlier run of the same task id wrote: trust none.
        if pid and (code := self._lines().get((str(sandbox), pid))) is not None:
            return code
        try:
            text = (sandbox / EXIT_FILE).read_text().strip()
        except OSError:
            return None
        return int(text) if text.lstrip("-").isdigit() else None

    def rotate_if_large(self) -> None:
        """Start a new log once this one passed ROTATE_BYTES (the older one is still read,
        the one before it dropped). Call only when no ended task waits to be looked up."""
        try:
            if self.path.stat().st_size < ROTATE_BYTES:
                return
            os.replace(self.path, self.older)
            self.create()
        except OSError:
            pass

    def _lines(self) -> dict[tuple[str, int], int]:
        """The newest recorded status by (sandbox, pid). Reads only what was
        appended since the last call; both files again after a rotation, or when a shell
        that opened the log just before a rotation appended to the older one."""
        files = (*_identity(self.older), _identity(self.path)[0])
        if files != self._files:
            self._read, self._offset, self._files = {}, 0, files
            with contextlib.suppress(OSError):
                self._parse(self.older.read_bytes())
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return self._read
        complete = data.rfind(b"\n") + 1  # a line still being written waits
        self._parse(data[:complete])
        self._offset += complete
        return self._read

    def _parse(self, data: bytes) -> None:
        for raw in data.split(b"\n"):
            code, _, rest = raw.partition(b" ")
            pid, _, sandbox = rest.partition(b" ")
            if code.lstrip(b"-").isdigit() and pid.isdigit() and sandbox:
                self._read[os.fsdecode(sandbox), int(pid)] = int(code)


def _identity(path: Path) -> tuple[int, int]:
    """(inode, size), or (-1, -1) for a missing file."""
    try:
        st = path.stat()
    except OSError:
        return -1, -1
    return st.st_ino, st.st_size


def _escape(script: str) -> str:
    """``script`` inside the single-quoted trap action."""
    return script.replace("'", "'\\''")
