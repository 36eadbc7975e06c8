"""Where a task's files live, and the path checks that keep readers inside them.

Task and framework ids are chosen by frameworks and may hold any character; they become
one directory name each, percent-escaped, so no id can climb out of its parent.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from urllib.parse import quote

MAX_ID_LENGTH = 200


class SandboxPathError(ValueError):
    """A path that would leave the sandbox, or an id that cannot name a directory."""


def check_id(kind: str, value: str) -> None:
    """Refuse ids that cannot be used at all (empty, too long, control characters)."""
    if not value:
        raise SandboxPathError(f"{kind} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise SandboxPathError(f"{kind} {value[:40]!r}... is longer than {MAX_ID_LENGTH} chars")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SandboxPathError(f"{kind} {value!r} contains control characters")


def escape_id(value: str) -> str:
    """One safe directory name for an id: unchanged for ordinary ids, escaped otherwise."""
    escaped = quote(value, safe="-_.:@+=,")
    if escaped in (".", ".."):
        escaped = escaped.replace(".", "%2E")
    return escaped


def sandbox_dir(work_dir: Path, framework_id: str, task_id: str) -> Path:
    """``work_dir/frameworks/<fid>/tasks/<task_id>``, with both ids escaped."""
    return work_dir / "frameworks" / escape_id(framework_id) / "tasks" / escape_id(task_id)


def ended_task_sandbox(work_dir: Path, framework_id: str, task_id: str) -> Path:
    """Where a task the agent no longer tracks had its sandbox: its own, else its
    directory under the executor that ran it (a task of a group)."""
    own = sandbox_dir(work_dir, framework_id, task_id)
    if own.is_dir():
        return own
    executors = work_dir / "frameworks" / escape_id(framework_id) / "executors"
    pattern = f"*/tasks/{glob.escape(escape_id(task_id))}"
    return next(iter(sorted(executors.glob(pattern))), own)


def resolve_in_sandbox(sandbox: Path, relative: str) -> Path:
    """The real path of ``relative`` inside ``sandbox``; refuse absolute paths and anything
    that resolves (through ``..`` or symlinks) outside of it."""
    if not relative:
        raise SandboxPathError("path is empty: name a file in the sandbox, e.g. 'stdout'")
    if "\x00" in relative:
        raise SandboxPathError("path contains a NUL character")
    if os.path.isabs(relative):
        raise SandboxPathError(
            f"path {relative!r} is absolute: give it relative to the sandbox, e.g. 'stdout'"
        )
    root = os.path.realpath(sandbox)
    target = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, target]) != root:
        raise SandboxPathError(f"path {relative!r} leads outside the task's sandbox")
    return Path(target)
