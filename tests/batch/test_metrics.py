"""The batch framework's Prometheus metrics: ticks counted with an injected clock (no
cluster), and runs and instances scraped from a real ``batch serve`` endpoint after real
jobs ran."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from frameworks.batch.metrics import batch_registry
from frameworks.batch.scheduler import BatchScheduler
from mesospy.scheduler.state import DirectoryStore
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.testing.prometheus import Samples, scrape

from .conftest import BATCH_CLUSTER
from .support import BatchApi

T0 = 1_800_000_000.0  # on a minute


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _samples(scheduler: BatchScheduler) -> Samples:
    return Samples(generate_latest(batch_registry(scheduler)).decode())


def test_ticks_are_counted_fired_skipped_and_missed(tmp_path: Path) -> None:
    clock = Clock(T0 + 5)
    scheduler = BatchScheduler(DirectoryStore(tmp_path), clock)
    scheduler.submit(
        "name: minutely\ncommand: 'sleep 600'\n"
        "schedule: {cron: '* * * * *', catch_up: latest, concurrency: Forbid}\n"
    )
    ticks = "mesospy_batch_ticks_total"
    assert _samples(scheduler).get(ticks, -1, outcome="fired") == 0
    clock.now = T0 + 60 + 1
    scheduler.tick()  # the 08:01 tick starts a run (still pending: no offers here)
    clock.now = T0 + 120 + 1
    scheduler.tick()  # 08:02: the run is still active, so Forbid skips it
    clock.now = T0 + 10 * 60 + 1
    scheduler.tick()  # 08:03-08:09 missed (catch_up: latest), 08:10 skipped again
    samples = _samples(scheduler)
    assert samples.get(ticks, outcome="fired") == 1
    assert samples.get(ticks, outcome="skipped") == 2
    assert samples.get(ticks, outcome="missed") == 7
    assert samples.get("mesospy_batch_runs", state="PENDING") == 1
    assert samples.get("mesospy_batch_runs", state="SKIPPED") == 9
    assert samples.get("mesospy_batch_jobs") == 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The batch framework with --metrics-port (LocalCluster(metrics=True))."""
    options = {**BATCH_CLUSTER, "metrics": True}
    with running_cluster(lambda: tmp_path_factory.mktemp("batch-metrics"), **options) as c:
        yield c


def test_runs_and_instances_are_counted_as_they_end(cluster: LocalCluster) -> None:
    url = cluster.framework_daemons["batch"].metrics_url
    assert url is not None
    api = BatchApi(cluster)
    before = scrape(url)
    good = api.submit("name: good\ncommand: 'true'\ninstances: 3\nresources: {cpus: 0.1}\n")
    bad = api.submit(
        "name: bad\ncommand: exit 3\nretries: {limit: 1, backoff: 0.1s}\nresources: {cpus: 0.1}\n"
    )
    assert api.wait_run("good", good.last_run.id).state == "SUCCEEDED"
    assert api.wait_run("bad", bad.last_run.id).state == "FAILED"
    after = scrape(url)

    def grew(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    # 3 instances of good, and bad's first attempt and its one retry.
    assert grew("mesospy_batch_instances_launched_total") == 5
    assert grew("mesospy_batch_instances_finished_total", result="succeeded") == 3
    assert grew("mesospy_batch_instances_finished_total", result="failed") == 1
    assert grew("mesospy_batch_instance_attempt_failures_total") == 2
    assert grew("mesospy_batch_runs", state="SUCCEEDED") == 1
    assert grew("mesospy_batch_runs", state="FAILED") == 1
    assert after.get("mesospy_batch_jobs") == before.get("mesospy_batch_jobs") + 2
