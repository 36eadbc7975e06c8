"""The agent's fork server starts image tasks without util-linux: the same root, mounts,
namespaces and user as through ``unshare``, its exit status recorded where the agent reads
it, and errors on the task's stderr. Real processes, a real image root, real namespaces."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.agent.containers.containerizer import Prepared, fork_request
from mesospy.agent.containers.forkserver import ForkServer, ForkServerUnavailable
from mesospy.agent.containers.launch import ImageUser
from mesospy.agent.containers.rootfs import Mount, Root, RootfsProvisioner, mounted_under
from mesospy.agent.containers.store import ImageStore
from mesospy.agent.exit_status import ExitLog
from mesospy.agent.fetcher import Cancellation
from mesospy.testing.registry import RegistryImages


@pytest.fixture(scope="module")
def image_root(images: RegistryImages, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = ImageStore(tmp_path_factory.mktemp("store") / "images")
    return store.get(images.name(), Cancellation()).rootfs


@pytest.fixture
def server() -> Iterator[ForkServer]:
    fs = ForkServer()
    yield fs
    fs.close()


def _start(
    server: ForkServer,
    root: Root,
    sandbox: Path,
    log: ExitLog,
    argv: list[str],
    *,
    user: ImageUser | None = None,
    cgroups: list[str] | None = None,
    workdir: str = "/srv/app",
) -> int:
    user = user or ImageUser(0, 0, "/")
    prepared = Prepared(root, workdir, user, argv, {"PATH": "/bin:/usr/bin", "HOME": "/"})
    out = os.open(sandbox / "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(sandbox / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        cgroup_files = [Path(path) for path in cgroups or []]
        request = fork_request(prepared, sandbox, cgroup_files, log.path)
        return server.start(request, (null, out, err))
    finally:
        for fd in (out, err, null):
            os.close(fd)


def _ended(server: ForkServer, log: ExitLog, sandbox: Path, pid: int) -> int:
    """Wait for the server to say the task ended; its status, as also recorded for a
    restarted agent."""
    ended = threading.Event()
    codes: list[int | None] = []
    server.watch(pid, lambda code: (codes.append(code), ended.set()))
    assert ended.wait(30), "the task did not end"
    assert log.exit_code(sandbox, pid) == codes[0]
    server.release(pid)
    assert codes[0] is not None
    return codes[0]


@pytest.fixture
def task_root(image_root: Path, tmp_path: Path) -> Iterator[tuple[Root, Path, ExitLog]]:
    provisioner = RootfsProvisioner(tmp_path / "containers", "auto")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "input").write_text("from the sandbox")
    log = ExitLog(tmp_path)
    log.create()
    root = provisioner.prepare("c1", image_root, sandbox)
    yield root, sandbox, log
    provisioner.cleanup("c1")
    assert not provisioner.path("c1").exists()


def test_a_task_from_the_fork_server_sees_its_image_as_root_and_is_pid_1(
    server: ForkServer, task_root: tuple[Root, Path, ExitLog], image_root: Path, tmp_path: Path
) -> None:
    root, sandbox, log = task_root
    script = (
        "cat /mnt/mesos/sandbox/input; echo; head -1 /etc/os-release; echo $$; pwd; "
        "echo /proc/[0-9]*; echo changed > /srv/app/hello.txt; "
        "echo kept > /mnt/mesos/sandbox/output; test -c /dev/null && echo devices; "
        "test -e /usr/bin/python3 && echo HOST-FILES-VISIBLE; exit 3"
    )
    pid = _start(server, root, sandbox, log, ["/bin/sh", "-c", script])
    assert server.pid is not None and pid != server.pid
    assert _ended(server, log, sandbox, pid) == 3
    out = (sandbox / "stdout").read_text()
    # Its /proc is its own PID namespace's: the shell is alone there.
    assert out == "from the sandbox\nID=mesospy-test\n1\n/srv/app\n/proc/1\ndevices\n", (
        out,
        (sandbox / "stderr").read_text(),
    )
    assert mounted_under(tmp_path) == []  # nothing mounted in the agent's namespace
    assert (image_root / "srv/app/hello.txt").read_text() == "hello from the image\n"
    assert (sandbox / "output").read_text() == "kept\n"


def test_the_fork_server_runs_the_task_as_its_user_with_its_volumes(
    server: ForkServer, task_root: tuple[Root, Path, ExitLog], tmp_path: Path
) -> None:
    root, sandbox, log = task_root
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # only the read-only mount keeps the task from writing
    (shared / "in.txt").write_text("from the host\n")
    (root.writable / "data").mkdir(parents=True)
    root.mounts += [
        Mount.bind(str(shared), f"{root.path}/data"),
        Mount.remount_read_only(f"{root.path}/data"),
    ]
    script = "id -u; id -g; id -G; cat /data/in.txt; touch /data/x 2>/dev/null || echo ro"
    pid = _start(
        server, root, sandbox, log, ["/bin/sh", "-c", script], user=ImageUser(65534, 65533, "/")
    )
    assert _ended(server, log, sandbox, pid) == 0, (sandbox / "stderr").read_text()
    assert (sandbox / "stdout").read_text() == "65534\n65533\n65533\nfrom the host\nro\n"
    assert not (shared / "x").exists()


def test_a_program_missing_from_the_image_ends_127_with_a_message(
    server: ForkServer, task_root: tuple[Root, Path, ExitLog]
) -> None:
    root, sandbox, log = task_root
    pid = _start(server, root, sandbox, log, ["no-such-program", "x"])
    assert _ended(server, log, sandbox, pid) == 127
    assert "mesospy: cannot run 'no-such-program'" in (sandbox / "stderr").read_text()


def test_a_cgroup_it_cannot_enter_ends_the_task_125_before_it_runs(
    server: ForkServer, task_root: tuple[Root, Path, ExitLog], tmp_path: Path
) -> None:
    root, sandbox, log = task_root
    missing = str(tmp_path / "no-cgroup" / "cgroup.procs")
    pid = _start(server, root, sandbox, log, ["/bin/sh", "-c", "echo ran"], cgroups=[missing])
    assert _ended(server, log, sandbox, pid) == 125
    assert (sandbox / "stdout").read_text() == ""
    assert "mesospy: cannot enter the task cgroup" in (sandbox / "stderr").read_text()


def test_a_sigterm_to_the_group_reaches_the_program_and_its_status_is_recorded(
    server: ForkServer, task_root: tuple[Root, Path, ExitLog]
) -> None:
    """The waiter outlives the TERM; the program (pid 1, with a handler) ends as it
    chooses; a SIGKILL ends it with 128 + 9, as its shell would have recorded."""
    root, sandbox, log = task_root
    script = "trap 'echo term; exit 7' TERM; echo up; sleep 600 & wait"
    pid = _start(server, root, sandbox, log, ["/bin/sh", "-c", script])
    deadline = time.monotonic() + 20
    while (sandbox / "stdout").read_text() != "up\n":
        assert time.monotonic() < deadline, "the task did not start"
        time.sleep(0.02)
    os.killpg(pid, signal.SIGTERM)
    assert _ended(server, log, sandbox, pid) == 7
    assert (sandbox / "stdout").read_text() == "up\nterm\n"


def test_tasks_outlive_the_agents_end_of_the_server_and_still_record_theirs(
    task_root: tuple[Root, Path, ExitLog],
) -> None:
    """When the agent stops (or dies), the server stays for its tasks: it records how
    each ends (before its zombie goes), then exits after the last."""
    root, sandbox, log = task_root
    server = ForkServer()
    os.mkfifo(sandbox / "go")
    pid = _start(
        server, root, sandbox, log, ["/bin/sh", "-c", "read x < /mnt/mesos/sandbox/go; exit 4"]
    )
    server_pid = server.pid
    assert server_pid is not None
    server.close()  # as when the agent stops
    os.kill(pid, 0)  # still running
    with open(sandbox / "go", "w") as f:
        f.write("\n")
    _, status = os.waitpid(server_pid, 0)  # the server exits after its last task
    assert os.waitstatus_to_exitcode(status) == 0
    assert log.exit_code(sandbox, pid) == 4
    with pytest.raises(ForkServerUnavailable, match="stopping"):
        server.start({}, (0, 1, 2))


def test_a_server_that_cannot_run_is_not_tried_again(
    task_root: tuple[Root, Path, ExitLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the server dies before its first answer, every image task starts through
    util-linux instead (the agent's fallback), without a new server per task."""
    root, sandbox, log = task_root
    monkeypatch.setattr(sys, "executable", "/bin/false")
    server = ForkServer()
    try:
        for _ in range(2):
            with pytest.raises(ForkServerUnavailable):
                _start(server, root, sandbox, log, ["/bin/true"])
        assert server.pid is None
    finally:
        server.close()


def test_a_request_the_server_cannot_take_is_answered_and_it_keeps_serving(
    server: ForkServer, task_root: tuple[Root, Path, ExitLog]
) -> None:
    root, sandbox, log = task_root
    null = os.open(os.devnull, os.O_RDWR)
    try:
        with pytest.raises(OSError, match="could not start the task"):
            server.start({"argv": ["/bin/true"]}, (null, null))  # two descriptors, not three
    finally:
        os.close(null)
    pid = _start(server, root, sandbox, log, ["/bin/sh", "-c", "exit 5"])
    assert _ended(server, log, sandbox, pid) == 5
