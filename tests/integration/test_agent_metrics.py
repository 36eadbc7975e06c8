"""The agent's Prometheus endpoint (--metrics-port), scraped over HTTP after running tasks."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster

# Loopback only, and no proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(url: str) -> dict[str, float]:
    """Every sample as ``name`` or ``name{label=value}`` -> value."""
    with _OPENER.open(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def _until(url: str, predicate: object, what: str, timeout: float = 20.0) -> dict[str, float]:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if predicate(samples):
            return samples
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {samples}"
        time.sleep(0.1)


def test_agent_metrics_count_tasks_and_unacknowledged_updates(tmp_path: Path) -> None:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:2;mem:512",
        master_flags=["--allocation-interval", "0.2"],
        metrics=True,
    ) as cluster:
        agent = cluster.agent_daemons[0]
        assert agent.metrics_url is not None
        # The master admits the agent a moment before the agent hears so.
        before = _until(agent.metrics_url, lambda s: s["mesospy_agent_registered"] == 1, "reg")
        assert before["mesospy_agent_tasks_launched_total"] == 0
        assert before["mesospy_agent_status_updates_pending"] == 0
        assert sum(v for k, v in before.items() if k.startswith("mesospy_agent_isolation{")) == 1

        # The framework acknowledges nothing, so the agent must resend.
        with FrameworkHarness(
            cluster.master_address, name="no-acks", implicit_acknowledgements=False
        ) as fw:
            fw.submit(
                [
                    task("quick", "true", "cpus:0.1;mem:16"),
                    task("long", "sleep 300", "cpus:0.1;mem:16"),
                ]
            )
            fw.wait(lambda: len(fw.latest_states()) == 2, what="both tasks to report")
            samples = _until(
                agent.metrics_url,
                lambda s: (
                    s["mesospy_agent_status_update_retries_total"] >= 2
                    and s.get("mesospy_agent_tasks{state=TASK_FINISHED}") == 1
                ),
                "retries and the quick task's end",
            )
            assert samples["mesospy_agent_tasks_launched_total"] == 2
            assert samples["mesospy_agent_tasks{state=TASK_RUNNING}"] == 1
            # quick: RUNNING (in flight) and FINISHED (queued behind it); long: RUNNING.
            assert samples["mesospy_agent_status_updates_pending"] == 3

            # Acknowledging everything empties the queue; the finished task is forgotten.
            def acknowledge_all() -> None:
                for status in list(fw.tasks.statuses):
                    fw.driver.acknowledge(status)

            deadline = time.monotonic() + 20
            while scrape(agent.metrics_url)["mesospy_agent_status_updates_pending"] > 0:
                assert time.monotonic() < deadline, "updates still pending after acks"
                acknowledge_all()
                time.sleep(0.2)
            after = scrape(agent.metrics_url)
            assert "mesospy_agent_tasks{state=TASK_FINISHED}" not in after
            assert after["mesospy_agent_tasks{state=TASK_RUNNING}"] == 1
        # The master's metrics are served too.
        assert cluster.master is not None and cluster.master.metrics_url is not None
        assert scrape(cluster.master.metrics_url)["mesospy_master_elected"] == 1
