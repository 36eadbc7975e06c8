"""The master's Prometheus endpoint (--metrics-port), scraped over HTTP."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mesospy.testing import LocalCluster, free_port


def test_metrics_port_serves_prometheus_text(tmp_path: Path) -> None:
    port = free_port()
    flags = ["--allocation-interval", "0.2", "--metrics-port", str(port)]
    with LocalCluster(agents=1, work_dir=tmp_path, agent_resources="cpus:1;mem:256",
                      master_flags=flags):  # fmt: skip
        # Loopback only, and no proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["mesospy_master_elected"].samples[0].value == 1
    agents = {s.labels["state"]: s.value for s in families["mesospy_master_agents"].samples}
    assert agents["active"] == 1
    for name in (
        "mesospy_master_tasks",
        "mesospy_master_frameworks",
        "mesospy_master_offers_outstanding",
        "mesospy_master_allocation_run_seconds",
        "mesospy_master_registry_write_seconds",
        "mesospy_master_event_queue_length",
    ):
        assert name in families, name
