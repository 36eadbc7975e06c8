"""The SDK and examples/hello.py against a real master and agents (LocalCluster)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import LocalCluster, environment_with_master
from mesospy.scheduler import Scheduler, SchedulerDriver, task
from mesospy.v1 import common_pb2

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello.py"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(agents=2, agent_resources="cpus:1;mem:512") as running:
        yield running


def hello(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HELLO), *args],
        env=environment_with_master(cluster.master_address),
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_hello_runs_every_task_to_completion(cluster: LocalCluster) -> None:
    # 30 tasks of 0.1 cpus need more than one offer per 1-cpu agent.
    result = hello(cluster, "--tasks", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "30/30 tasks finished, 0 did not" in result.stdout


def test_hello_fails_when_tasks_fail(cluster: LocalCluster) -> None:
    result = hello(cluster, "--tasks", "2", "--cmd", "exit 3")
    assert result.returncode == 1
    assert "0/2 tasks finished, 2 did not" in result.stdout


class OneSleeper(Scheduler):
    """Launches one long task; records every status."""

    def __init__(self) -> None:
        self.statuses: asyncio.Queue[common_pb2.TaskStatus] = asyncio.Queue()
        self.launched = False

    def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        for offer in offers:
            if self.launched:
                driver.decline(offer.id, refuse_seconds=60)
                continue
            self.launched = True
            driver.launch(offer.id, [task("sleeper", "sleep 60", "cpus:0.1;mem:16")])

    def status_update(self, driver: SchedulerDriver, status: common_pb2.TaskStatus) -> None:
        self.statuses.put_nowait(status)


async def wait_for_state(scheduler: OneSleeper, state: int) -> common_pb2.TaskStatus:
    while (status := await scheduler.statuses.get()).state != state:
        pass
    return status


def test_failover_keeps_tasks_for_a_new_driver_with_the_same_id(cluster: LocalCluster) -> None:
    async def scenario() -> None:
        info = common_pb2.FrameworkInfo(name="failover", failover_timeout=60)
        first = OneSleeper()
        driver = SchedulerDriver(first, info, cluster.master_address)
        running = asyncio.create_task(driver.run_async())
        await wait_for_state(first, common_pb2.TASK_RUNNING)
        driver.stop(failover=True)
        assert await running == 0

        info.id = driver.framework_id
        second = OneSleeper()
        second.launched = True  # the task from the first instance still runs
        successor = SchedulerDriver(second, info, cluster.master_address)
        successor.reconcile([("sleeper", "")])
        running = asyncio.create_task(successor.run_async())
        status = await wait_for_state(second, common_pb2.TASK_RUNNING)
        assert status.task_id == "sleeper"
        assert successor.framework_id == info.id
        successor.stop()  # tears down: the sleeper is killed
        assert await running == 0

    asyncio.run(asyncio.wait_for(scenario(), 60))
