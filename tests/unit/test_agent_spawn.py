"""The agent's posix_spawn through libc: real processes."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from mesospy.agent import spawn as spawn_module
from mesospy.agent.spawn import spawn

DEFAULTS = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}


def run(script: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    read, write = os.pipe()
    try:
        pid = spawn("/bin/sh", ["/bin/sh", "-c", script], env or {}, [(write, 1)], DEFAULTS)
    finally:
        os.close(write)
    with os.fdopen(read) as out:
        text = out.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), text


def test_the_child_gets_its_session_descriptors_environment_and_signals() -> None:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # ignored here, default in the child
    # Blocked here, not in the child (a task that blocks SIGTERM cannot be stopped gently).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        # The masks are read with shell builtins: a child (grep) would read them while the
        # shell waits for it, and dash blocks every signal while it waits.
        code, out = run(
            'echo "$A"; cut -d" " -f6 /proc/$$/stat; while read -r key value; do '
            'case "$key" in SigBlk:|SigIgn:) echo "$key $value";; esac; done < /proc/$$/status',
            {"A": "b c"},
        )
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
    lines = out.splitlines()
    assert code == 0 and lines[0] == "b c"
    assert int(lines[1]) != os.getsid(0)  # a session of its own
    blocked = int(lines[2].split()[1], 16)
    ignored = int(lines[3].split()[1], 16)
    assert blocked == 0
    assert not ignored & (1 << (signal.SIGUSR1 - 1))


def test_errors_are_raised_as_os_posix_spawn_raises_them() -> None:
    with pytest.raises(FileNotFoundError):
        spawn("/no/such/program", ["x"], {}, [], DEFAULTS)
    with pytest.raises(ValueError, match="null byte"):
        spawn("/bin/sh", ["/bin/sh", "-c", "true\x00"], {}, [], DEFAULTS)
    with pytest.raises(ValueError, match="null byte"):
        spawn("/bin/sh\x00junk", ["/bin/sh"], {}, [], DEFAULTS)
    with pytest.raises(ValueError, match="illegal environment variable name"):
        spawn("/bin/sh", ["/bin/sh", "-c", "true"], {"A=B": "c"}, [], DEFAULTS)
    with pytest.raises(ValueError, match="argv"):
        spawn("/bin/sh", [], {}, [], DEFAULTS)


def test_other_threads_run_while_a_child_starts() -> None:
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            time.sleep(0)
            ticks += 1

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        during = 0
        for _ in range(50):
            before = ticks
            pid = spawn("/bin/sh", ["/bin/sh", "-c", "true"], {}, [], DEFAULTS)
            during += ticks - before
            os.waitpid(pid, 0)
    finally:
        stop.set()
        ticker.join()
    assert during > 0  # os.posix_spawn would leave this at 0


def test_without_libc_it_falls_back_to_os_posix_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn_module, "_LIBC", None)
    code, out = run("echo fallback")
    assert (code, out) == (0, "fallback\n")
