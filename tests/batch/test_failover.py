"""Exactly once across SIGKILL: a schedule keeps firing while the framework is killed and
restarted at random points; every due tick runs once, and no task id is launched twice."""

from __future__ import annotations

import collections
import random
import signal
import time
from pathlib import Path

from frameworks.batch.schedule import due_ticks
from frameworks.batch.spec import Schedule
from mesospy.testing import LocalCluster

from .support import BatchApi, eventually

CRON = "* * * * * */2"


def test_every_tick_runs_exactly_once_across_framework_kills(
    own_cluster: LocalCluster, tmp_path: Path
) -> None:
    api = BatchApi(own_cluster)
    launches = tmp_path / "launches"
    job = api.submit(
        f"name: ticker\ncommand: echo $MESOS_TASK_ID >> {launches}; sleep 0.5\n"
        f"instances: 2\nschedule: {{cron: '{CRON}', catch_up: all}}\n"
    )
    rng = random.Random(7)
    framework_ids = set()
    for _ in range(4):
        time.sleep(rng.uniform(0.5, 4.0))  # a random point in the schedule's life
        daemon = own_cluster.framework_daemons["batch"]
        daemon.signal(signal.SIGKILL)
        assert daemon.process is not None
        daemon.process.wait(10)
        time.sleep(rng.uniform(0.0, 2.5))  # ticks fall due while it is down
        own_cluster.add_framework("batch")
        framework_ids.add(eventually(lambda: api.job("ticker").framework_id, 30, "the API"))
    assert len(framework_ids) == 1  # it re-subscribed with its stored id each time
    end = time.time()
    expected = {
        f"s{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t))}"
        for t in due_ticks(Schedule(cron=CRON), job.created, end, limit=10_000)
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
    # Each instance of each run executed once: no task launched twice, and no run
    # executed under two attempts.
    lines = launches.read_text().split()
    assert [task for task, n in collections.Counter(lines).items() if n > 1] == []
    per_instance = collections.Counter(line.rsplit(".", 1)[0] for line in lines)
    assert [key for key, n in per_instance.items() if n > 1] == []
    for run_id in expected:
        assert f"ticker.{run_id}.0" in per_instance and f"ticker.{run_id}.1" in per_instance
