"""Tasks run as their user on a root agent, never as root unless allowed; sandboxes belong
to that user, and reading them cannot escape (symlinks, FIFOs, '..')."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.agent.sandbox import sandbox_dir
from mesospy.client import OperatorClient, OperatorError
from mesospy.scheduler import is_terminal, task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb

from .conftest import FAST_MASTER


@pytest.fixture(scope="module")
def strict_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """An agent running as root without --allow-root-tasks."""
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("users"),
        agent_resources="cpus:2;mem:1024",
        master_flags=FAST_MASTER,
        allow_root_tasks=False,
    ) as cluster:
        yield cluster


def _as(user: str, task_id: str, shell: str) -> pb.TaskInfo:
    info = task(task_id, shell, "cpus:0.1;mem:32")
    info.command.user = user
    return info


def _final(framework: FrameworkHarness, task_id: str) -> pb.TaskStatus:

    framework.wait(
        lambda: any(
            s.task_id == task_id and is_terminal(s.state) for s in framework.tasks.statuses
        ),
        60,
        f"{task_id} to end",
    )
    return [s for s in framework.tasks.statuses if s.task_id == task_id][-1]


def test_tasks_run_as_their_user_and_never_as_root(strict_cluster: LocalCluster) -> None:
    assert os.geteuid() == 0, "these tests need root, as the agent's user switching does"
    nobody = pwd.getpwnam("nobody")
    script = "id -un > me; ln -s /etc/shadow leak; mkfifo pipe; echo done"
    with FrameworkHarness(strict_cluster.master_address, name="users") as framework:
        framework.submit(
            [
                _as("nobody", "as-nobody", script),
                task("no-user", "true", "cpus:0.1;mem:32"),
                _as("root", "as-root", "true"),
            ]
        )
        assert _final(framework, "as-nobody").state == pb.TASK_FINISHED
        for task_id in ("no-user", "as-root"):
            status = _final(framework, task_id)
            assert status.state == pb.TASK_ERROR
            assert "--allow-root-tasks" in status.message
        framework_id = framework.tasks.framework_id
    work = Path(str(strict_cluster.work_dir)) / "agent-0"
    sandbox = sandbox_dir(work, framework_id, "as-nobody")
    assert (sandbox / "me").read_text() == "nobody\n"
    assert sandbox.stat().st_uid == nobody.pw_uid
    assert (sandbox / "me").stat().st_uid == nobody.pw_uid
    with OperatorClient(strict_cluster.master_address) as client:
        assert client.read_file(framework_id, "as-nobody", "stdout").data == b"done\n"
        for path in ("leak", "pipe", "../../../../../../etc/passwd"):
            with pytest.raises(OperatorError) as caught:
                client.read_file(framework_id, "as-nobody", path)
            assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED, (path, caught.value)


def test_many_tasks_as_a_user_all_run_as_that_user(strict_cluster: LocalCluster) -> None:
    # Tasks of another user used to be forked from the agent (Popen(user=...)), and gRPC's
    # fork handlers crashed some of those children (SIGSEGV) while the agent was busy.
    ids = [f"nobody-{i}" for i in range(60)]
    with FrameworkHarness(strict_cluster.master_address, name="many-users") as framework:
        framework.submit([_as("nobody", i, 'test "$(id -un)" = nobody') for i in ids])
        for task_id in ids:
            status = _final(framework, task_id)
            assert status.state == pb.TASK_FINISHED, (task_id, status.message)
