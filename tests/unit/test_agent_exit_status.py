"""The exit statuses tasks record for a restarted agent: real shells, files in a temp dir."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mesospy.agent import exit_status
from mesospy.agent.exit_status import EXIT_FILE, ExitLog


def run(argv: list[str], sandbox: Path) -> int:
    """Run a recording command line as the agent would (in its sandbox); its pid."""
    sandbox.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.defpath, "MESOS_SANDBOX": str(sandbox)}
    proc = subprocess.Popen(argv, cwd=sandbox, env=env)
    proc.wait()
    return proc.pid


def test_shell_tasks_of_the_agents_user_append_to_the_log(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    first = tmp_path / "frameworks" / "f" / "tasks" / "a"
    second = tmp_path / "frameworks" / "f" / "tasks" / "b"
    pid_a = run(log.recording(["/bin/sh", "-c", "exit 7"], {}, first, own_user=True), first)
    pid_b = run(log.recording(["/bin/sh", "-c", "false"], {}, second, own_user=True), second)
    assert log.exit_code(first, pid_a) == 7
    assert log.exit_code(second, pid_b) == 1
    assert log.exit_code(second, None) is None  # no pid: a line of an earlier run could pass
    assert log.exit_code(first, pid_a + 1_000_000) is None  # another process in that sandbox
    assert not (first / EXIT_FILE).exists()  # no file of its own: one inode fewer


def test_sandbox_paths_with_quotes_and_spaces_are_recorded_whole(tmp_path: Path) -> None:
    log = ExitLog(tmp_path / "agent's dir")
    log.path.parent.mkdir()
    sandbox = tmp_path / "agent's dir" / "tasks" / "it's a 'task' $HOME \\n"
    pid = run(log.recording(["/bin/sh", "-c", "exit 3"], {}, sandbox, own_user=True), sandbox)
    assert log.exit_code(sandbox, pid) == 3


def test_argv_tasks_are_recorded_by_a_waiting_shell(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    sandbox = tmp_path / "s"
    argv = log.recording(["sh", "-c", "exit 4"], {"PATH": os.defpath}, sandbox, own_user=True)
    pid = run(argv, sandbox)
    assert log.exit_code(sandbox, pid) == 4


def test_a_missing_program_is_a_launch_failure(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ExitLog(tmp_path).recording(["no-such-program-here"], {}, tmp_path, own_user=True)


def test_tasks_of_another_user_record_in_their_sandbox(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    sandbox = tmp_path / "s"
    pid = run(log.recording(["/bin/sh", "-c", "exit 9"], {}, sandbox, own_user=False), sandbox)
    assert (sandbox / EXIT_FILE).read_text().strip() == "9"
    assert not log.path.exists()
    assert log.exit_code(sandbox, pid) == 9


def test_a_task_killed_before_it_could_record_has_no_status(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    sandbox = tmp_path / "s"
    argv = log.recording(["/bin/sh", "-c", "kill -KILL $$"], {}, sandbox, own_user=True)
    pid = run(argv, sandbox)
    assert log.exit_code(sandbox, pid) is None


def test_the_log_rotates_and_the_older_generation_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exit_status, "ROTATE_BYTES", 1)
    log = ExitLog(tmp_path)
    one, two, three = (tmp_path / name for name in ("one", "two", "three"))
    pid_one = run(log.recording(["/bin/sh", "-c", "exit 1"], {}, one, own_user=True), one)
    log.rotate_if_large()
    assert log.older.exists() and log.path.read_text() == ""  # the agent makes the new one
    pid_two = run(log.recording(["/bin/sh", "-c", "exit 2"], {}, two, own_user=True), two)
    assert log.exit_code(one, pid_one) == 1  # from the older log
    assert log.exit_code(two, pid_two) == 2
    log.rotate_if_large()  # one's generation is dropped
    pid_three = run(log.recording(["/bin/sh", "-c", "exit 3"], {}, three, own_user=True), three)
    assert log.exit_code(one, pid_one) is None
    assert log.exit_code(two, pid_two) == 2
    assert log.exit_code(three, pid_three) == 3


def test_garbled_lines_are_ignored(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    sandbox = tmp_path / "s"
    log.path.write_text(f"x 1 {sandbox}\n5 notapid {sandbox}\n\n12\n6 42 {sandbox}\n")
    assert log.exit_code(sandbox, 42) == 6


def test_a_log_that_cannot_be_written_never_changes_a_tasks_exit_status(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    log.path.mkdir()  # even root cannot append to it
    sandbox = tmp_path / "s"
    for script, expected in (("set -e; true", 0), ("set -e; exit 4", 4), ("false", 1)):
        argv = log.recording(["/bin/sh", "-c", script], {}, sandbox, own_user=True)
        sandbox.mkdir(exist_ok=True)
        done = subprocess.run(argv, cwd=sandbox, capture_output=True, check=False)
        assert (done.returncode, done.stderr) == (expected, b""), script


def test_the_agent_makes_the_log_writable_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        ExitLog(tmp_path).create()
    finally:
        os.umask(old)
    assert (tmp_path / "exit-statuses").stat().st_mode & 0o777 == 0o644


def test_lines_are_read_as_they_are_appended_and_half_lines_wait(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    log.create()
    a, b = tmp_path / "a", tmp_path / "b"
    with open(log.path, "ab") as f:
        f.write(f"1 10 {a}\n".encode())
    assert log.exit_code(a, 10) == 1
    with open(log.path, "ab") as f:
        f.write(f"2 11 {b}".encode())  # still being written
    assert log.exit_code(b, 11) is None
    with open(log.path, "ab") as f:
        f.write(b"\n")
    assert log.exit_code(b, 11) == 2
    assert log.exit_code(a, 10) == 1


def test_a_line_appended_to_the_older_log_after_a_rotation_is_found(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    log.create()
    late = tmp_path / "late"
    log.path.write_text(f"0 5 {tmp_path / 'early'}\n")
    os.replace(log.path, log.older)
    log.create()
    assert log.exit_code(late, 7) is None  # both files read
    with open(log.older, "a") as f:  # a shell that opened the log before the rotation
        f.write(f"3 7 {late}\n")
    assert log.exit_code(late, 7) == 3


def test_the_log_wins_over_a_stale_sandbox_file(tmp_path: Path) -> None:
    log = ExitLog(tmp_path)
    sandbox = tmp_path / "s"
    sandbox.mkdir()
    (sandbox / EXIT_FILE).write_text("9\n")  # an earlier run of this task id, as another user
    pid = run(log.recording(["/bin/sh", "-c", "exit 0"], {}, sandbox, own_user=True), sandbox)
    assert log.exit_code(sandbox, pid) == 0
