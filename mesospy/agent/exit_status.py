"""A task's exit status, kept where a restarted agent can read it.

Tasks are the agent's children: if the agent dies, a task that ends meanwhile is reaped by
someone else and its exit status is gone. So each task writes its status into the sandbox
as it ends; a recovering agent reads the file instead of reporting "exit status unknown".
A shell command does it from an EXIT trap in its own shell (no extra process); an argv
program runs under a small shell that waits for it and writes the file.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

EXIT_FILE = ".mesospy-exit-status"

_WRITE = f'echo "$rc" > "$MESOS_SANDBOX/{EXIT_FILE}" 2>/dev/null'
# A shell command records its status from its own shell's EXIT trap, which sees every way
# the script ends (`exit N`, the last command's status, a failed command under `set -e`).
_TRAP = f"trap 'rc=$?; {_WRITE}; exit \"$rc\"' EXIT\n"
# The waiting shell of an argv program outlives a SIGTERM to the task's process group (a
# handler, unlike an ignored signal, is reset in the program), so the program's own
# handling and the kill grace period hold.
_GUARD = "trap : TERM INT HUP\n"
_RECORD = f'rc=$?\n{_WRITE}\nexit "$rc"'


def recording(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """The command line that runs ``argv`` and records its exit status in the sandbox.

    A program that cannot be found raises FileNotFoundError here, as spawning it directly
    would: that is a launch failure, not an exit status of 127.
    """
    if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3:
        return ["/bin/sh", "-c", f"{_TRAP}{argv[2]}"]
    if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
    return ["/bin/sh", "-c", f'{_GUARD}"$@"\n{_RECORD}', "mesospy-task", *argv]


def recorded_exit_code(sandbox: Path) -> int | None:
    """The exit status the task's shell recorded, or None if it did not (killed first)."""
    try:
        text = (sandbox / EXIT_FILE).read_text().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None
