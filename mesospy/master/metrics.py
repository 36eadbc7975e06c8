"""The master's metrics in Prometheus form, served over HTTP and through GetMetrics.

Each master has its own ``CollectorRegistry`` (not prometheus-client's global one), so
several masters in one process (tests) do not clash. Counts of agents, frameworks, tasks
and offers are read from the master's records at scrape time, so the hot paths pay
nothing for them; only timings are recorded as they happen.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mesospy.master.call_metrics import CallCounter
from mesospy.metrics_http import MetricsPortError, serve_registry
from mesospy.resources import Resources
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

if TYPE_CHECKING:
    from mesospy.master.master import Master

__all__ = ["MasterMetrics", "MetricsPortError", "serve_metrics"]

log = logging.getLogger(__name__)
Drain = opb.AgentState.DrainState
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class MasterMetrics:
    """The master's metric registry and the timings recorded into it."""

    def __init__(self, master: Master) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.allocation_seconds = Histogram(
            "mesospy_master_allocation_run_seconds",
            "Time one allocation cycle took.",
            buckets=FAST_BUCKETS,
            registry=self.registry,
        )
        self.registry_write_seconds = Histogram(
            "mesospy_master_registry_write_seconds",
            "Time one registry operation took to be persisted.",
            ["operation"],
            buckets=FAST_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(master))
        self.calls = CallCounter()  # the server's outermost interceptor
        self.registry.register(self.calls)

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def samples(self) -> dict[str, float]:
        """Every sample as ``name{label="value"}`` -> value (what GetMetrics returns)."""
        out: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def instrument_registry(self, registry: object) -> None:
        """Time every public coroutine method of the master's registry.

        Wrapping the instance (instead of editing each backend) times the local-file and
        the ZooKeeper registry alike, whichever the master runs with.
        """
        # Look the methods up on the class: getmembers on the instance would run properties.
        for name, _ in inspect.getmembers(type(registry), inspect.iscoroutinefunction):
            if not name.startswith("_"):
                setattr(registry, name, self._timed(name, getattr(registry, name)))

    def _timed(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        histogram = self.registry_write_seconds.labels(operation=name)

        @functools.wraps(method)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed


class _StateCollector(Collector):
    """Gauges read from the master's records at scrape time."""

    def __init__(self, master: Master) -> None:
        self.m = master

    def collect(self) -> Iterator[Metric]:
        m, state = self.m, self.m.state
        yield _gauge("mesospy_master_elected", "1 if this master leads.", _elected(m))
        yield _gauge(
            "mesospy_master_uptime_seconds", "Seconds since start.", time.time() - m.start_time
        )
        agents = Counter(_agent_state(m, a.id, a.active) for a in state.agents.values())
        agents["unreachable"] = len(state.unreachable_agents)
        agents["gone"] = len(m.agents.gone)
        yield _labelled("mesospy_master_agents", "Agents by state.", "state", agents)
        yield _gauge(
            "mesospy_master_standby_sessions",
            "Agents' standby sessions held (re-registrations kept until resume).",
            m.agents.standing_by,
        )
        yield CounterMetricFamily(
            "mesospy_master_agents_resumed",
            "Agents taken over from their standby sessions since this master leads.",
            value=m.agents.resumed,
        )
        frameworks = Counter(
            "connected" if f.connected else "disconnected" for f in state.frameworks.values()
        )
        frameworks["removed"] = len(state.removed_frameworks)
        yield _labelled("mesospy_master_frameworks", "Frameworks by state.", "state", frameworks)
        tasks: Counter[str] = Counter()
        for framework in state.frameworks.values():
            for task in [*framework.tasks.values(), *framework.unreachable_tasks.values()]:
                tasks[pb.TaskState.Name(task.latest_state)] += 1
        yield _labelled(
            "mesospy_master_tasks", "Tasks the master tracks, by state.", "state", tasks
        )
        completed = Counter(pb.TaskState.Name(t.state) for t in state.completed_tasks)
        yield _labelled(
            "mesospy_master_completed_tasks",
            "Terminal tasks the master still remembers, by state.",
            "state",
            completed,
        )
        yield _gauge("mesospy_master_offers_outstanding", "Offers not yet answered.", len(m.offers))
        yield from _resource_families(m)
        queued = sum(f.stream.pending() for f in state.frameworks.values() if f.stream)
        yield _labelled(
            "mesospy_master_event_queue_length",
            "Events queued for sending.",
            "stream",
            {"frameworks": queued, "operators": m.events.queued()},
        )
        yield _gauge(
            "mesospy_master_operator_subscribers", "Operator event streams.", m.events.subscribers
        )


def _resource_families(master: Master) -> Iterator[GaugeMetricFamily]:
    """Scalar resources (cpus, mem, disk, gpus...) per role: the agents' (all unreserved,
    role "*"), those held by active tasks, and those in outstanding offers."""
    state = master.state
    capacity = {"*": Resources.total([a.total for a in state.agents.values()])}
    held: dict[str, list[Resources]] = {}
    for framework in list(state.frameworks.values()):
        for task in [*framework.tasks.values(), *framework.unreachable_tasks.values()]:
            if not task.resources_recovered:
                held.setdefault(task.role, []).append(task.resources)
    used = {role: Resources.total(items) for role, items in held.items()}
    offered: dict[str, Resources] = {}
    for offer in list(master.offers):
        offered[offer.role] = offered.get(offer.role, Resources()) + offer.resources
    for kind, by_role, what in (
        ("capacity", capacity, "on the agents"),
        ("used", used, "held by active tasks"),
        ("offered", offered, "in outstanding offers"),
    ):
        family = GaugeMetricFamily(
            f"mesospy_master_resources_{kind}",
            f"Scalar resources {what}, by resource and role.",
            labels=["resource", "role"],
        )
        for role in sorted(by_role):
            for name, amount in by_role[role].scalar_items():
                family.add_metric([name, role], amount)
        yield family


def _elected(master: Master) -> float:
    # Without high availability a running master always leads.
    return 1.0 if master.leading else 0.0


def _agent_state(master: Master, agent_id: str, active: bool) -> str:
    drain = master.maintenance.drain_of(agent_id)
    if drain is not None:
        return "drained" if drain.state == Drain.DRAINED else "draining"
    return "active" if active else "deactivated"


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(
    name: str, documentation: str, label: str, values: dict[str, int] | Counter[str]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key in sorted(values):
        family.add_metric([key], values[key])
    return family


def serve_metrics(master: Master, ip: str, port: int) -> WSGIServer | None:
    """Serve the master's metrics over HTTP on ``ip:port`` in a thread (port 0: don't)."""
    return serve_registry(master.metrics.registry, ip, port)
