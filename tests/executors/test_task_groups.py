"""Task groups (LAUNCH_GROUP) with mesospy's DEFAULT executor, on a real cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.scheduler import default_executor, task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.v1 import common_pb2 as pb


@pytest.fixture
def framework(cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    holder = TaskQueueScheduler(hold_offers=True)
    with FrameworkHarness(cluster.master_address, holder, name="groups") as harness:
        harness.wait(lambda: bool(holder.offers_seen), what="an offer")
        yield harness


def states(harness: FrameworkHarness) -> dict[str, pb.TaskStatus]:
    with harness.tasks.changed:
        return {s.task_id: s for s in harness.tasks.statuses}


def launch_group(harness: FrameworkHarness, executor_id: str, tasks: list[pb.TaskInfo]) -> None:
    seen = len(harness.tasks.offers_seen)
    offer = harness.tasks.offers_seen[-1]
    harness.driver.launch_group(
        offer.id,
        default_executor(executor_id, "cpus:0.1;mem:64"),
        tasks,
        filters=pb.Filters(refuse_seconds=0),
    )
    # The rest of the offer comes back as a new one, for the next group.
    harness.wait(lambda: len(harness.tasks.offers_seen) > seen, what="the next offer")


def wait_states(harness: FrameworkHarness, wanted: dict[str, int]) -> dict[str, pb.TaskStatus]:
    def reached() -> bool:
        now = states(harness)
        return all(t in now and now[t].state == s for t, s in wanted.items())

    harness.wait(reached, what=f"states {wanted}")
    return states(harness)


def test_one_failing_task_kills_the_rest_of_its_group(
    cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    launch_group(
        framework,
        "pod-1",
        [
            task("web", "sleep 60", "cpus:0.1;mem:16"),
            task("bad", "sleep 0.5; exit 3", "cpus:0.1;mem:16"),
            task("sidecar", "sleep 60", "cpus:0.1;mem:16", kill_grace_period=1),
        ],
    )
    final = wait_states(
        framework, {"web": pb.TASK_KILLED, "bad": pb.TASK_FAILED, "sidecar": pb.TASK_KILLED}
    )
    assert final["bad"].message == "exited with status 3"
    for name in ("web", "sidecar"):
        assert "task 'bad' of its group failed" in final[name].message
    # The default executor exits once its group is over.
    framework.wait(lambda: any(f[1] == "pod-1" for f in framework.tasks.failures), what="the exit")
    assert [f[2] for f in framework.tasks.failures if f[1] == "pod-1"] == [0]


def test_a_group_that_succeeds_shares_a_sandbox_parent(
    cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    launch_group(
        framework,
        "pod-2",
        [
            task("first", "echo one", "cpus:0.1;mem:16"),
            task("second", "echo two", "cpus:0.1;mem:16"),
        ],
    )
    wait_states(framework, {"first": pb.TASK_FINISHED, "second": pb.TASK_FINISHED})
    assert cluster.work_dir is not None
    executor_dir = (
        cluster.work_dir
        / "agent-0"
        / "frameworks"
        / framework.tasks.framework_id
        / "executors"
        / "pod-2"
    )
    assert (executor_dir / "tasks" / "first" / "stdout").read_text() == "one\n"
    assert (executor_dir / "tasks" / "second" / "stdout").read_text() == "two\n"


def test_killing_one_task_kills_its_group(framework: FrameworkHarness) -> None:
    launch_group(
        framework,
        "pod-3",
        [task("k1", "sleep 60", "cpus:0.1;mem:16"), task("k2", "sleep 60", "cpus:0.1;mem:16")],
    )
    agent_id = wait_states(framework, {"k1": pb.TASK_RUNNING, "k2": pb.TASK_RUNNING})["k1"].agent_id
    framework.driver.kill("k1", agent_id)
    final = wait_states(framework, {"k1": pb.TASK_KILLED, "k2": pb.TASK_KILLED})
    assert final["k1"].message.startswith("killed;")
    assert "killed with its group (task 'k1')" in final["k2"].message


def test_bad_groups_launch_nothing(framework: FrameworkHarness) -> None:
    elsewhere = task("elsewhere", "true", "cpus:0.1;mem:16", agent_id="another-agent")
    launch_group(framework, "pod-4", [task("here", "sleep 60", "cpus:0.1;mem:16"), elsewhere])
    no_command = task("no-command", "true", "cpus:0.1;mem:16")
    no_command.ClearField("command")
    launch_group(framework, "pod-5", [task("fine", "sleep 60", "cpus:0.1;mem:16"), no_command])
    launch_group(
        framework,
        "pod-6",
        [task("small", "sleep 60", "cpus:0.1;mem:16"), task("huge", "true", "cpus:1000")],
    )
    final = wait_states(
        framework,
        {t: pb.TASK_ERROR for t in ("here", "elsewhere", "fine", "no-command", "small", "huge")},
    )
    assert "names agent 'another-agent'" in final["here"].message
    assert final["here"].message.startswith("task group: ")
    assert "needs a command" in final["fine"].message
    assert "asks for" in final["small"].message and "the task group" in final["small"].message
    # None of them ran: no other state was ever reported for them.
    with framework.tasks.changed:
        others = [
            s
            for s in framework.tasks.statuses
            if s.task_id in {"here", "fine", "small"} and s.state != pb.TASK_ERROR
        ]
    assert others == []


def test_a_task_failing_its_health_check_is_killed_with_its_group(
    framework: FrameworkHarness,
) -> None:
    def check(shell: str) -> pb.HealthCheck:
        return pb.HealthCheck(
            type=pb.HealthCheck.COMMAND,
            command=pb.CommandInfo(shell=shell),
            delay_seconds=0,
            interval_seconds=0.2,
            grace_period_seconds=0,
            consecutive_failures=2,
            timeout_seconds=5,
        )

    launch_group(
        framework,
        "pod-7",
        [
            task("healthy", "sleep 60", "cpus:0.1;mem:16", health_check=check("true")),
            task("sick", "sleep 60", "cpus:0.1;mem:16", health_check=check("false")),
        ],
    )
    final = wait_states(framework, {"healthy": pb.TASK_KILLED, "sick": pb.TASK_KILLED})
    assert final["sick"].reason == pb.TaskStatus.REASON_TASK_UNHEALTHY
    assert final["sick"].healthy is False
    assert "task 'sick' unhealthy" in final["healthy"].message
    with framework.tasks.changed:
        health = [
            s.healthy
            for s in framework.tasks.statuses
            if s.task_id == "healthy"
            and s.reason == pb.TaskStatus.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
        ]
    assert health[:1] == [True]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_a_stopping_agent_with_kill_tasks_on_exit_takes_the_groups_tasks_too(
    tmp_path: Path,
) -> None:
    # The default executor starts each task in a session of its own, outside the
    # executor's process group: they must go with the executor's container all the same.
    pid_file = tmp_path / "pid"
    with LocalCluster(agents=1, work_dir=tmp_path / "cluster", kill_tasks_on_exit=True) as c:
        holder = TaskQueueScheduler(hold_offers=True)
        with FrameworkHarness(c.master_address, holder, name="leaks") as harness:
            harness.wait(lambda: bool(holder.offers_seen), what="an offer")
            launch_group(
                harness,
                "pod-leak",
                [
                    task(
                        "stays",
                        f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; exec sleep 300",
                        "cpus:0.1;mem:16",
                    )
                ],
            )
            wait_states(harness, {"stays": pb.TASK_RUNNING})
            harness.wait(pid_file.exists, what="the task's pid")
            pid = int(pid_file.read_text())
            assert _alive(pid)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel delivers the SIGKILL; nothing to await
    assert not _alive(pid), f"task process {pid} outlived its agent"


def test_lifecycle_prestart_then_main_and_sidecars_killed_when_main_ends(
    framework: FrameworkHarness,
) -> None:
    shared = '"$MESOS_SANDBOX/../../ready"'
    launch_group(
        framework,
        "pod-8",
        [
            task("main", f"test -f {shared}", "cpus:0.1;mem:16"),
            task("init", f"sleep 0.3; touch {shared}", "cpus:0.1;mem:16", lifecycle="prestart"),
            task("side", "sleep 60", "cpus:0.1;mem:16", lifecycle="prestart", sidecar=True),
            task("post", "sleep 60", "cpus:0.1;mem:16", lifecycle="poststart", sidecar=True),
        ],
    )
    final = wait_states(
        framework,
        {
            "init": pb.TASK_FINISHED,
            "main": pb.TASK_FINISHED,
            "side": pb.TASK_KILLED,
            "post": pb.TASK_KILLED,
        },
    )
    assert final["main"].exit_code == 0
    assert "main tasks have ended" in final["side"].message


def test_lifecycle_a_failing_prestart_task_keeps_main_from_starting(
    framework: FrameworkHarness,
) -> None:
    launch_group(
        framework,
        "pod-9",
        [
            task("never", "true", "cpus:0.1;mem:16"),
            task("broken", "exit 4", "cpus:0.1;mem:16", lifecycle="prestart"),
        ],
    )
    final = wait_states(framework, {"broken": pb.TASK_FAILED, "never": pb.TASK_KILLED})
    assert final["broken"].exit_code == 4
    assert final["never"].message.endswith("never started")
    with framework.tasks.changed:
        ran = [
            s
            for s in framework.tasks.statuses
            if s.task_id == "never" and s.state == pb.TASK_RUNNING
        ]
    assert ran == []


def test_a_group_of_only_lifecycle_hooks_is_refused(framework: FrameworkHarness) -> None:
    launch_group(
        framework,
        "pod-10",
        [task("lonely", "sleep 60", "cpus:0.1;mem:16", lifecycle="prestart", sidecar=True)],
    )
    final = wait_states(framework, {"lonely": pb.TASK_ERROR})
    assert "no main task" in final["lonely"].message
