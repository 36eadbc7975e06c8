"""Exactly once across failures: a schedule keeps firing while the framework (or the
leading master) is killed with SIGKILL at random points; afterwards every due tick has run
exactly once, and no task id was launched twice."""

from __future__ import annotations

import collections
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from frameworks.batch.schedule import due_ticks
from frameworks.batch.spec import Schedule
from mesospy.client import OperatorError
from mesospy.cluster import ClusterError
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.testing.zookeeper import ZooKeeperSandbox, ZooKeeperServer

from .support import AGENT_RESOURCES, BatchApi, eventually

CRON = "*/2 * * * * *"  # seconds first
HA_MASTER = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "0.5",
    "--max-agent-ping-timeouts",
    "6",
    "--framework-heartbeat-interval",
    "1",
    "--zk-session-timeout",
    "4",
    "--agent-reregister-timeout",
    "20",
]


def submit_ticker(api: BatchApi, launches: Path) -> float:
    """An every-2-seconds job whose tasks log their task id; when it was created."""
    job = api.submit(
        f"name: ticker\ncommand: echo $MESOS_TASK_ID >> {launches}; sleep 0.5\n"
        f"instances: 2\nschedule: {{cron: '{CRON}', seconds: true, catch_up: all}}\n"
    )
    return job.created


def restart_framework(cluster: LocalCluster, rng: random.Random, state: str | None) -> None:
    daemon = cluster.framework_daemons["batch"]
    daemon.signal(signal.SIGKILL)
    assert daemon.process is not None
    daemon.process.wait(10)
    time.sleep(rng.uniform(0.0, 2.5))  # ticks fall due while it is down
    for attempt in (1, 2, 3):
        try:
            cluster.add_framework("batch", state=state)
            return
        except ClusterError:  # its API port was taken meanwhile by another process
            if attempt == 3:
                raise


def check_each_tick_ran_once(api: BatchApi, created: float, launches: Path) -> None:
    end = time.time()
    expected = {
        f"s{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t))}"
        for t in due_ticks(Schedule(cron=CRON, seconds=True), created, end, limit=10_000)
    }

    def all_done() -> list[str] | None:
        runs = [r for r in api.runs("ticker") if r.scheduled_time <= end]
        ids = [r.id for r in runs]
        done = all(r.state == "SUCCEEDED" for r in runs) and set(ids) >= expected
        return ids if done else None

    try:
        ids = eventually(all_done, 90, "every due tick's run to succeed")
    except AssertionError as exc:
        runs = [(r.id, r.state, [i.state for i in r.instances]) for r in api.runs("ticker")]
        raise AssertionError(f"{exc}; expected {sorted(expected)}; runs {runs}") from None
    assert sorted(ids) == sorted(expected)  # each due tick once, none extra
    assert len(expected) >= 5
    # Each instance of each run executed once: no task id launched twice, and no run
    # executed under two attempts.
    lines = launches.read_text().split()
    assert [task for task, n in collections.Counter(lines).items() if n > 1] == []
    per_instance = collections.Counter(line.rsplit(".", 1)[0] for line in lines)
    assert [key for key, n in per_instance.items() if n > 1] == []
    for run_id in expected:
        assert f"ticker.{run_id}.0" in per_instance and f"ticker.{run_id}.1" in per_instance


def test_every_tick_runs_exactly_once_across_framework_kills(
    own_cluster: LocalCluster, tmp_path: Path
) -> None:
    api = BatchApi(own_cluster)
    launches = tmp_path / "launches"
    created = submit_ticker(api, launches)
    rng = random.Random(7)
    framework_ids = set()
    for _ in range(4):
        time.sleep(rng.uniform(0.5, 4.0))  # a random point in the schedule's life
        restart_framework(own_cluster, rng, None)
        framework_ids.add(eventually(lambda: api.job("ticker").framework_id, 30, "the API"))
    assert len(framework_ids) == 1  # it re-subscribed with its stored id each time
    check_each_tick_ran_once(api, created, launches)


@pytest.fixture
def zookeeper(zookeeper_server: ZooKeeperServer) -> Iterator[ZooKeeperSandbox]:
    sandbox = ZooKeeperSandbox(zookeeper_server)
    try:
        yield sandbox
    finally:
        sandbox.close()


def test_every_tick_runs_exactly_once_across_a_master_kill(
    zookeeper: ZooKeeperSandbox, tmp_path: Path
) -> None:
    state = f"{zookeeper.url}-batch"  # the framework's state in ZooKeeper too
    directories = iter(tmp_path / f"try-{n}" for n in range(3))
    with running_cluster(
        lambda: next(directories),
        lambda attempt: {"zk": f"{zookeeper.url}-{attempt}"},  # a clean registry each try
        agents=2,
        masters=2,
        agent_resources=AGENT_RESOURCES,
        master_flags=HA_MASTER,
        frameworks=[],
    ) as cluster:
        cluster.add_framework("batch", state=state)
        api = BatchApi(cluster)
        launches = tmp_path / "launches"
        created = submit_ticker(api, launches)
        rng = random.Random(11)
        time.sleep(rng.uniform(2.0, 4.0))
        old = cluster.leader()
        old.signal(signal.SIGKILL)

        def new_leader() -> bool:
            try:
                return cluster.leader().name != old.name
            except OperatorError:
                return False

        eventually(new_leader, 30, "a new leading master")
        time.sleep(rng.uniform(1.0, 3.0))
        restart_framework(cluster, rng, state)  # and the framework too, for good measure
        time.sleep(rng.uniform(1.0, 3.0))
        check_each_tick_ran_once(api, created, launches)
        assert zookeeper.client().exists(f"{zookeeper.path}-batch/jobs/ticker")
