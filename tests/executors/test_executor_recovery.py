"""An agent restart with live executors: they subscribe again and keep their tasks, or
are killed (tasks failed) when they do not come back in time."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.scheduler import executor, executor_task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb

from .executors_support import echo_executor

Reason = pb.TaskStatus

FAST_MASTER = ["--allocation-interval", "0.2", "--framework-heartbeat-interval", "2"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:4;mem:2048;disk:1024",
        master_flags=FAST_MASTER,
        agent_flags=[
            "--executor-reregistration-timeout",
            "4",
            "--executor-registration-timeout",
            "3",
        ],
        kill_tasks_on_exit=False,
    ) as c:
        yield c


def latest(fw: FrameworkHarness, task_id: str) -> pb.TaskStatus | None:
    with fw.tasks.changed:
        found = [s for s in fw.tasks.statuses if s.task_id == task_id]
    return found[-1] if found else None


def wait_state(fw: FrameworkHarness, task_id: str, state: int) -> pb.TaskStatus:
    fw.wait(
        lambda: (s := latest(fw, task_id)) is not None and s.state == state,
        what=f"{task_id} {pb.TaskState.Name(state)}",
    )
    status = latest(fw, task_id)
    assert status is not None
    return status


def events(cluster: LocalCluster, fw: FrameworkHarness, executor_id: str) -> list[str]:
    assert cluster.work_dir is not None
    path = (
        cluster.work_dir
        / "agent-0"
        / "frameworks"
        / fw.tasks.framework_id
        / "executors"
        / executor_id
        / "events"
    )
    return path.read_text().splitlines()


def restart_agent(cluster: LocalCluster) -> None:
    daemon = cluster.agent_daemons[0]
    daemon.stop()
    daemon.start()


def answered(fw: FrameworkHarness, executor_id: str, agent_id: str, text: bytes) -> None:
    """Send until the executor answers: messages are best effort, and the agent may not
    have its session with the master yet."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fw.driver.send_framework_message(executor_id, agent_id, text)
        try:
            fw.wait(
                lambda: (executor_id, agent_id, b"echo:" + text) in fw.tasks.messages,
                timeout=1.0,
            )
            return
        except TimeoutError:
            continue
    raise AssertionError(f"executor {executor_id} never answered {text!r}")


def test_a_live_executor_subscribes_again_and_keeps_its_tasks(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="survivors", failover_timeout=60) as fw:
        fw.wait(lambda: bool(fw.tasks.framework_id), what="subscription")
        info = echo_executor("survivor")
        fw.submit([executor_task(f"r{i}", info, "cpus:0.1;mem:16") for i in (1, 2)])
        agent_id = wait_state(fw, "r1", pb.TASK_RUNNING).agent_id
        wait_state(fw, "r2", pb.TASK_RUNNING)
        before = [line for line in events(cluster, fw, "survivor") if line.startswith("registered")]

        restart_agent(cluster)
        answered(fw, "survivor", agent_id, b"back?")

        registered = [
            line for line in events(cluster, fw, "survivor") if line.startswith("registered")
        ]
        assert len(registered) == 2
        assert registered[1].split()[-1] == before[0].split()[-1]  # the same process
        fw.driver.send_framework_message("survivor", agent_id, b"finish:r1")
        assert wait_state(fw, "r1", pb.TASK_FINISHED).message == "finish by message"
        fw.driver.kill("r2", agent_id)
        wait_state(fw, "r2", pb.TASK_KILLED)
        lines = events(cluster, fw, "survivor")
        assert lines.count("launch r1") == 1 and lines.count("launch r2") == 1
        assert not fw.tasks.failures


def test_an_executor_that_does_not_come_back_is_killed_and_its_tasks_fail(
    cluster: LocalCluster,
) -> None:
    with FrameworkHarness(cluster.master_address, name="stuck", failover_timeout=60) as fw:
        fw.wait(lambda: bool(fw.tasks.framework_id), what="subscription")
        fw.submit([executor_task("s1", echo_executor("stuck"), "cpus:0.1;mem:16")])
        agent_id = wait_state(fw, "s1", pb.TASK_RUNNING).agent_id
        pid = int(events(cluster, fw, "stuck")[0].split()[-1])

        os.kill(pid, signal.SIGSTOP)  # alive, but it cannot subscribe again
        try:
            restart_agent(cluster)
            status = wait_state(fw, "s1", pb.TASK_FAILED)
        finally:
            if _alive(pid):
                os.kill(pid, signal.SIGCONT)
        assert status.reason == Reason.REASON_EXECUTOR_TERMINATED
        fw.wait(lambda: (agent_id, "stuck", None) in fw.tasks.failures, what="FAILURE")
        assert not _alive(pid)


def test_an_executor_that_never_subscribes_is_killed_and_its_task_fails(
    cluster: LocalCluster,
) -> None:
    with FrameworkHarness(cluster.master_address, name="silent") as fw:
        fw.wait(lambda: bool(fw.tasks.framework_id), what="subscription")
        silent = executor("silent", "exec sleep 600", "cpus:0.1;mem:32")
        fw.submit([executor_task("q1", silent, "cpus:0.1;mem:16")])
        status = wait_state(fw, "q1", pb.TASK_FAILED)
        assert status.reason == Reason.REASON_EXECUTOR_TERMINATED
        assert "did not subscribe within 3 s of its start" in status.message
        fw.wait(lambda: any(f[1] == "silent" for f in fw.tasks.failures), what="FAILURE")
        assert [f[2] for f in fw.tasks.failures if f[1] == "silent"] == [128 + signal.SIGKILL]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def test_a_new_master_counts_an_executor_s_own_resources(tmp_path: Path) -> None:
    with (
        LocalCluster(
            agents=1,
            work_dir=tmp_path,
            agent_resources="cpus:1;mem:1024",
            master_flags=FAST_MASTER,
        ) as cluster,
        FrameworkHarness(cluster.master_address, name="counted", failover_timeout=60) as fw,
    ):
        fw.wait(lambda: bool(fw.tasks.framework_id), what="subscription")
        info = echo_executor("counted", resources="cpus:0.5;mem:64")
        fw.submit([executor_task("c1", info, "cpus:0.1;mem:16")])
        wait_state(fw, "c1", pb.TASK_RUNNING)

        def offered_cpus_after(count: int) -> float:
            fw.wait(lambda: len(fw.tasks.offers_seen) > count, what="an offer")
            offer = fw.tasks.offers_seen[-1]
            return sum(r.scalar for r in offer.resources if r.name == "cpus")

        assert offered_cpus_after(len(fw.tasks.offers_seen)) == pytest.approx(0.4)
        assert cluster.master is not None
        cluster.master.stop()
        cluster.master.start()
        fw.wait(lambda: fw.tasks.subscriptions >= 2, what="re-subscription")
        # The new master learns the executor from the agent, its share included.
        assert offered_cpus_after(len(fw.tasks.offers_seen)) == pytest.approx(0.4)
