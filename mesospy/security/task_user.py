"""Who a task runs as, on an agent that runs as root; and reading its sandbox safely.

A task runs as ``command.user``, else as its framework's ``FrameworkInfo.user``. An agent
running as root switches to that user (the sandbox and the task's cgroups are handed to
it) and never runs a task as root unless started with ``--allow-root-tasks``. An agent
that is not root runs every task as itself.

Sandbox files are read through ``open_in_sandbox``, which refuses anything that is not a
regular file inside the sandbox at the moment it is opened, so a task cannot swap in a
symlink (or a FIFO) to make the agent read, or hang on, something else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
from collections.abc import Iterable
from pathlib import Path


class SandboxEscape(PermissionError):
    """A sandbox file is not a regular file inside the sandbox."""


def task_user(command_user: str, framework_user: str) -> str | None:
    """The user a task asks to run as (None: it names none)."""
    return command_user or framework_user or None


def switch_to(user: str | None) -> str | None:
    """The user to switch to for a task asking for ``user``: None when that is who the
    agent already is (the launch then takes the fast path with no user switch)."""
    if not user:
        return None
    try:
        return None if pwd.getpwnam(user).pw_uid == os.geteuid() else user
    except KeyError:
        return user  # the launch reports the unknown user


def root_problem(user: str | None, running_as_root: bool, allow_root: bool) -> str | None:
    """Why this agent refuses to run the task, if it would run as root unasked."""
    if not running_as_root or allow_root:
        return None
    if not user:
        return (
            "the task names no user (command.user or FrameworkInfo.user) and this agent "
            "runs as root; it runs tasks as root only when started with --allow-root-tasks"
        )
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return None  # the launch reports the unknown user
    if uid == 0:
        return (
            f"the task would run as {user!r} (uid 0); this agent runs tasks as root only "
            "when started with --allow-root-tasks"
        )
    return None


def delegate_cgroups(paths: Iterable[Path], user: str | None) -> None:
    """Let the task's first process, already running as ``user``, move itself into its
    own cgroups (the agent is root; the task's shell writes its pid there). Cgroups are
    pooled and reused, so a task running as root takes back one a user was given."""
    if os.geteuid() != 0:
        return
    record = pwd.getpwnam(user) if user else None
    uid, gid = (record.pw_uid, record.pw_gid) if record is not None else (0, 0)
    for path in paths:
        for name in ("cgroup.procs", "tasks"):
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path / name).st_uid != uid:
                    os.chown(path / name, uid, gid)


def open_in_sandbox(sandbox: Path, path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file in ``sandbox``."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SandboxEscape(f"{path.name!r} is a symbolic link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(mode):
            raise SandboxEscape(f"{path.name!r} is not a regular file")
        root = os.path.realpath(sandbox)
        real = os.path.realpath(f"/proc/self/fd/{fd}")
        if os.path.commonpath([root, real]) != root:
            raise SandboxEscape(f"{path.name!r} leads outside the task's sandbox")
    except BaseException:
        os.close(fd)
        raise
    return fd
