"""The service framework's metrics in Prometheus form
(``mesospy service serve --metrics-port``).

Apps, instances by health and the VIPs' active connections are read at scrape time; the
deployments started and ended (by outcome) are counted by the scheduler into
``ServiceCounts`` as they happen, and the VIP proxies count their connections. Counters
start at zero with each ``serve`` process. VIP proxies run as tasks or by hand
(``python -m frameworks.service.vip``) are not counted here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from frameworks.service.model import AppRecord

if TYPE_CHECKING:
    from frameworks.service.scheduler import ServiceScheduler
    from frameworks.service.vip import VipManager

__all__ = ["ServiceCounts", "service_registry"]

OUTCOMES = ("SUCCEEDED", "FAILED", "ROLLED_BACK", "CANCELLED", "SUPERSEDED")
VIP_OUTCOMES = ("served", "failed")


@dataclass
class ServiceCounts:
    """What the scheduler counts as it happens."""

    deployments_started: Counter[str] = field(default_factory=Counter)  # by kind
    deployments_ended: Counter[str] = field(default_factory=Counter)  # by outcome

    def saved(self, before: AppRecord | None, after: AppRecord) -> None:
        """Count the deployments ``after`` started or ended since ``before``."""
        known = {d.id for d in before.history} if before is not None else set()
        for ended in after.history:
            if ended.id not in known:
                self.deployments_ended[ended.status] += 1
        current = after.deployment
        previous = before.deployment if before is not None else None
        if current is not None and (previous is None or previous.id != current.id):
            self.deployments_started[current.kind] += 1


def _health(healthy: bool | None) -> str:
    return "unknown" if healthy is None else "healthy" if healthy else "unhealthy"


class _ServiceCollector(Collector):
    def __init__(self, scheduler: ServiceScheduler, vips: VipManager | None) -> None:
        self.scheduler = scheduler
        self.vips = vips

    def collect(self) -> Iterator[Metric]:
        scheduler, counts = self.scheduler, self.scheduler.counts
        apps = list(scheduler.apps.values())
        yield GaugeMetricFamily("mesospy_service_apps", "Apps defined.", value=len(apps))
        yield GaugeMetricFamily(
            "mesospy_service_deployments_active",
            "Deployments in progress (running or paused).",
            value=sum(1 for a in apps if a.deployment is not None and a.deployment.active),
        )
        started = CounterMetricFamily(
            "mesospy_service_deployments_started",
            "Deployments started, by kind (deploy, scale, restart, rollback, delete).",
            labels=["kind"],
        )
        for kind in sorted(counts.deployments_started):
            started.add_metric([kind], counts.deployments_started[kind])
        yield started
        ended = CounterMetricFamily(
            "mesospy_service_deployments_ended",
            "Deployments ended, by outcome.",
            labels=["outcome"],
        )
        for outcome in sorted({*OUTCOMES, *counts.deployments_ended}):
            ended.add_metric([outcome], counts.deployments_ended[outcome])
        yield ended
        instances: Counter[tuple[str, str, str]] = Counter(
            (i.app_id, i.state, _health(i.healthy)) for i in list(scheduler.instances.values())
        )
        family = GaugeMetricFamily(
            "mesospy_service_instances",
            "Instances by app, state (staging, running, unreachable) and health (healthy, "
            "unhealthy, unknown: not checked or no result yet).",
            labels=["app", "state", "health"],
        )
        for key in sorted(instances):
            family.add_metric(list(key), instances[key])
        yield family
        if self.vips is not None:
            yield from self._vips(self.vips)

    def _vips(self, vips: VipManager) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "mesospy_service_vip_connections_active",
            "Connections open through each app's VIP.",
            labels=["app"],
        )
        for app_id, proxy in sorted(list(vips.proxies.items())):
            active.add_metric([app_id], sum(proxy.active.values()))
        yield active
        totals = vips.counts()
        apps = sorted({app_id for app_id, _ in totals})
        connections = CounterMetricFamily(
            "mesospy_service_vip_connections",
            "Connections through each app's VIP, by outcome: served (a backend answered) or "
            "failed (no backend would take it).",
            labels=["app", "outcome"],
        )
        errors = CounterMetricFamily(
            "mesospy_service_vip_backend_errors",
            "Backends that refused a VIP's connection or closed it before answering (the "
            "connection was retried on another one).",
            labels=["app"],
        )
        for app_id in apps:
            for outcome in VIP_OUTCOMES:
                connections.add_metric([app_id, outcome], totals.get((app_id, outcome), 0))
            errors.add_metric([app_id], totals.get((app_id, "backend_errors"), 0))
        yield connections
        yield errors
        listen = GaugeMetricFamily(
            "mesospy_service_vip_listen_errors",
            "1 for each app whose VIP cannot be listened on (its address is taken).",
            labels=["app"],
        )
        for app_id in sorted(dict(vips.errors)):
            listen.add_metric([app_id], 1)
        yield listen


def service_registry(
    scheduler: ServiceScheduler, vips: VipManager | None = None
) -> CollectorRegistry:
    """A registry of the framework's metrics, for ``mesospy.metrics_http.serve_registry``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(scheduler, vips))
    return registry
