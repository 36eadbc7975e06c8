"""The site example app on a real cluster: its instances fetch a zip, serve what it held."""

from __future__ import annotations

import io
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mesospy.cli.main import cli
from mesospy.cluster import free_port
from mesospy.testing import FileServer, LocalCluster
from mesospy.testing.clusters import running_cluster

from .support import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "site.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("service-fetch"),
        agents=1,
        master_flags=["--allocation-interval", "0.2"],
        agent_resources="cpus:2;mem:1024;ports:[30500-30599]",
        frameworks=["service"],
    ) as c:
        yield c


def _site_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("site/index.html", "<h1>fetched site</h1>\n")
    return buffer.getvalue()


def test_the_site_example_serves_its_fetched_zip(cluster: LocalCluster, tmp_path: Path) -> None:
    with FileServer() as server:
        url = server.put("/site.zip", _site_zip())
        vip = free_port()
        spec = EXAMPLE.read_text()
        assert "http://127.0.0.1:8000/site.zip" in spec and "port: 10081" in spec
        spec = spec.replace("http://127.0.0.1:8000/site.zip", url)
        spec_file = tmp_path / "site.yaml"
        spec_file.write_text(spec.replace("port: 10081", f"port: {vip}"))
        result = CliRunner().invoke(
            cli,
            ["app", "deploy", str(spec_file), "--wait", "--timeout", "90"],
            env={"MESOSPY_MASTER": cluster.master_address},
        )
        assert result.exit_code == 0 and "SUCCEEDED" in result.output, result.output

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{vip}/", timeout=5) as answer:
                    return b"fetched site" in answer.read()
            except OSError:
                return False

        wait_until("the site through the VIP", answers)
        assert server.requests["/site.zip"] == 1  # two instances, one agent, cached
