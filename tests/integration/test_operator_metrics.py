"""The master's Prometheus endpoint (--metrics-port), scraped over HTTP."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mesospy.testing import LocalCluster


def test_metrics_port_serves_prometheus_text(tmp_path: Path) -> None:
    # metrics=True: the master gets --metrics-port with a free port (picked again if it is
    # taken before the master binds it).
    flags = ["--allocation-interval", "0.2"]
    with LocalCluster(agents=1, work_dir=tmp_path, agent_resources="cpus:1;mem:256",
                      master_flags=flags, metrics=True) as cluster:  # fmt: skip
        assert cluster.master is not None and cluster.master.metrics_url is not None
        assert "--metrics-port" in cluster.master.args
        # Loopback only, and no proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(cluster.master.metrics_url, timeout=30) as response:
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
