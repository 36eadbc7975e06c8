"""The batch framework's metrics in Prometheus form (``mesospy batch serve --metrics-port``).

Runs by state and jobs are read from the scheduler at scrape time; what happens (ticks,
launches, instances ending) is counted by the scheduler into ``BatchCounts`` as it
happens. Counters start at zero with each ``serve`` process, as Prometheus expects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from frameworks.batch.scheduler import BatchScheduler

__all__ = ["BatchCounts", "batch_registry"]


@dataclass
class BatchCounts:
    """What the scheduler counts as it happens."""

    # Due cron ticks: "fired" (a run started), "skipped" (Forbid: the last run still
    # active), "missed" (past the starting deadline, or while the framework was down).
    ticks: Counter[str] = field(default_factory=Counter)
    launched: int = 0  # instance attempts launched as tasks
    # Instances that ended for good: "succeeded" or "failed".
    finished: Counter[str] = field(default_factory=Counter)
    attempt_failures: int = 0  # attempts whose task failed (retried or not)


class _BatchCollector(Collector):
    def __init__(self, scheduler: BatchScheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        scheduler, counts = self.scheduler, self.scheduler.counts
        runs: Counter[str] = Counter()
        for by_id in list(scheduler.runs.values()):
            runs.update(run.state for run in list(by_id.values()))
        family = GaugeMetricFamily(
            "mesospy_batch_runs", "Runs kept in the jobs' history, by state.", labels=["state"]
        )
        for state in sorted(runs):
            family.add_metric([state], runs[state])
        yield family
        jobs = list(scheduler.jobs.values())
        yield GaugeMetricFamily("mesospy_batch_jobs", "Jobs defined.", value=len(jobs))
        yield GaugeMetricFamily(
            "mesospy_batch_jobs_suspended",
            "Jobs whose schedule is suspended.",
            value=sum(1 for job in jobs if job.suspended),
        )
        ticks = CounterMetricFamily(
            "mesospy_batch_ticks",
            "Due cron ticks: fired (a run started), skipped (concurrency Forbid), missed "
            "(past the starting deadline or while the framework was down).",
            labels=["outcome"],
        )
        for outcome in ("fired", "skipped", "missed"):
            ticks.add_metric([outcome], counts.ticks[outcome])
        yield ticks
        yield CounterMetricFamily(
            "mesospy_batch_instances_launched",
            "Instance attempts launched as tasks.",
            value=counts.launched,
        )
        finished = CounterMetricFamily(
            "mesospy_batch_instances_finished",
            "Instances that ended for good, by result.",
            labels=["result"],
        )
        for result in ("succeeded", "failed"):
            finished.add_metric([result], counts.finished[result])
        yield finished
        yield CounterMetricFamily(
            "mesospy_batch_instance_attempt_failures",
            "Instance attempts whose task failed (retried or not).",
            value=counts.attempt_failures,
        )


def batch_registry(scheduler: BatchScheduler) -> CollectorRegistry:
    """A registry of the scheduler's metrics, for ``mesospy.metrics_http.serve_registry``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_BatchCollector(scheduler))
    return registry
