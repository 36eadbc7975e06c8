"""The agent's metrics in Prometheus form, served over HTTP with ``--metrics-port``.

Like the master's (``mesospy.master.metrics``), each agent has its own
``CollectorRegistry``. Tasks by state, updates awaiting acknowledgement, the isolation in
use, registration and standby sessions are read from the agent at scrape time; only the
launch count is recorded as it happens, and the status-update retries are counted by
``UpdateStreams`` (the standby sessions' by ``StandbySessions``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mesospy.v1 import common_pb2 as pb

if TYPE_CHECKING:
    from mesospy.agent.agent import Agent


class AgentMetrics:
    """The agent's metric registry and the counts recorded into it."""

    def __init__(self, agent: Agent) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.tasks_launched = 0
        self.registry.register(_AgentCollector(agent, self))

    def launched(self, count: int) -> None:
        """``count`` more tasks were handed to this agent to launch."""
        self.tasks_launched += count

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _AgentCollector(Collector):
    """Metrics read from the agent at scrape time (from the HTTP server's thread)."""

    def __init__(self, agent: Agent, metrics: AgentMetrics) -> None:
        self.a = agent
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        agent = self.a
        yield GaugeMetricFamily(
            "mesospy_agent_registered",
            "1 while the agent is registered with a master.",
            value=1.0 if agent.registered.is_set() else 0.0,
        )
        isolator = getattr(agent, "isolator", None)
        if isolator is not None:
            isolation = GaugeMetricFamily(
                "mesospy_agent_isolation", "The isolation in use (label).", labels=["isolation"]
            )
            isolation.add_metric([isolator.name], 1.0)
            yield isolation
        tasks = getattr(agent, "tasks", None)
        if tasks is not None:
            # Copy before iterating: the event loop changes the dict in another thread.
            states = Counter(pb.TaskState.Name(t.state) for t in list(tasks.tasks.values()))
            family = GaugeMetricFamily(
                "mesospy_agent_tasks",
                "Tasks on this agent (until their terminal update is acknowledged), by state.",
                labels=["state"],
            )
            for state in sorted(states):
                family.add_metric([state], states[state])
            yield family
        yield CounterMetricFamily(
            "mesospy_agent_tasks_launched",
            "Tasks this agent was asked to launch.",
            value=self.metrics.tasks_launched,
        )
        standby = getattr(agent, "standby", None)
        if standby is not None:
            sessions = GaugeMetricFamily(
                "mesospy_agent_standby_sessions",
                "Sessions with contending masters that do not lead (ZooKeeper): current or "
                "behind what the agent would report now.",
                labels=["state"],
            )
            for state, count in standby.counts().items():
                sessions.add_metric([state], count)
            yield sessions
            yield CounterMetricFamily(
                "mesospy_agent_standby_reregistrations",
                "Fresh re-registrations sent on standby sessions as what the agent reports "
                "changed.",
                value=standby.refreshes,
            )
            yield CounterMetricFamily(
                "mesospy_agent_standby_resumes",
                "Standby sessions taken over with resume once their master was elected.",
                value=standby.resumed,
            )
        updates = getattr(agent, "updates", None)
        if updates is not None:
            streams = updates.streams
            yield CounterMetricFamily(
                "mesospy_agent_status_update_retries",
                "Status updates resent because they were not acknowledged in time.",
                value=streams.retries,
            )
            pending = sum(len(streams.pending(key)) for key in list(streams.keys()))
            yield GaugeMetricFamily(
                "mesospy_agent_status_updates_pending",
                "Status updates not yet acknowledged by the master.",
                value=pending,
            )
        fetcher = getattr(agent, "fetcher", None)
        if fetcher is not None:
            cache = fetcher.cache
            yield GaugeMetricFamily(
                "mesospy_agent_fetcher_cache_bytes",
                "Bytes of artifacts in the fetcher cache (at most --fetcher-cache-size).",
                value=cache.index.size,
            )
            yield CounterMetricFamily(
                "mesospy_agent_fetcher_cache_hits",
                "Cached artifacts put into a sandbox without a download.",
                value=cache.hits,
            )
            yield CounterMetricFamily(
                "mesospy_agent_fetcher_cache_downloads",
                "Downloads made for the fetcher cache.",
                value=cache.downloads,
            )
        containerizer = getattr(agent, "containerizer", None)
        store = getattr(containerizer, "store", None)
        if store is not None:
            yield CounterMetricFamily(
                "mesospy_agent_image_pulls",
                "Image manifests asked of a registry (pulls; cached images need none).",
                value=store.pulls,
            )
            yield CounterMetricFamily(
                "mesospy_agent_image_blob_downloads",
                "Image layers and configs downloaded (each blob once per agent).",
                value=store.downloads,
            )
