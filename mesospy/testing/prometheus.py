"""Reading a Prometheus endpoint in a test: ``scrape(url)`` and samples by name and labels.

    samples = scrape(daemon.metrics_url)
    samples.get("mesospy_batch_instances_finished_total", result="succeeded")
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "scrape"]


class Samples:
    """Every sample of one scrape, by name and labels."""

    def __init__(self, text: str) -> None:
        self.values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.values[sample.name, frozenset(sample.labels.items())] = sample.value

    def get(self, name: str, default: float = 0.0, **labels: str) -> float:
        """The sample ``name`` with exactly these labels (``default`` if absent)."""
        return self.values.get((name, frozenset(labels.items())), default)

    def has(self, name: str) -> bool:
        """Whether any sample is named ``name``."""
        return any(key[0] == name for key in self.values)


def scrape(url: str, timeout: float = 10.0) -> Samples:
    """GET ``url`` (no proxy from the environment: it is on loopback) and parse it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return Samples(response.read().decode())
