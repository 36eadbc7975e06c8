"""The image-site example app on a real cluster: busybox's httpd from an image pulled from a
real registry serves a zip the agent fetched, through the VIP."""

from __future__ import annotations

import io
import json
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
from mesospy.testing.registry import Registry, busybox_image

from .support import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "image-site.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("service-image"),
        agents=1,
        master_flags=["--allocation-interval", "0.2"],
        agent_resources="cpus:2;mem:1024;ports:[30600-30699]",
        frameworks=["service"],
    ) as c:
        yield c


def _site_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("site/index.html", "<h1>served from an image</h1>\n")
    return buffer.getvalue()


def test_the_image_site_example_serves_from_its_image(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    with Registry(tmp_path / "registry") as registry, FileServer() as server:
        registry.push("mesospy/busybox", "1", busybox_image(os_id="site-image"))
        url = server.put("/site.zip", _site_zip())
        vip = free_port()
        spec = EXAMPLE.read_text()
        assert "127.0.0.1:5000/mesospy/busybox:1" in spec and "port: 10082" in spec
        spec = spec.replace("127.0.0.1:5000", registry.host)
        spec = spec.replace("http://127.0.0.1:8000/site.zip", url)
        spec_file = tmp_path / "image-site.yaml"
        spec_file.write_text(spec.replace("port: 10082", f"port: {vip}"))
        result = CliRunner().invoke(
            cli,
            ["app", "deploy", str(spec_file), "--wait", "--timeout", "90"],
            env={"MESOSPY_MASTER": cluster.master_address},
        )
        assert result.exit_code == 0 and "SUCCEEDED" in result.output, result.output

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{vip}/", timeout=5) as answer:
                    return b"served from an image" in answer.read()
            except OSError:
                return False

        wait_until("the site through the VIP", answers)
        assert cluster.work_dir is not None
        # The agent pulled the image, and the instance runs in a root of its own.
        releases = cluster.work_dir.glob("agent-*/images/images/*/rootfs/etc/os-release")
        assert any("ID=site-image" in path.read_text() for path in releases)
        assert list(cluster.work_dir.glob("agent-*/containers/[0-9a-f]*/upper"))


def test_a_marathon_app_runs_from_its_docker_image(cluster: LocalCluster, tmp_path: Path) -> None:
    # No cmd or args: the image's own Cmd serves its /etc on the app's fixed port.
    port = 30650
    image = busybox_image(
        os_id="marathon-image", cmd=["/bin/sh", "-c", f"exec httpd -f -p {port} -h /etc"]
    )
    with Registry(tmp_path / "registry") as registry:
        registry.push("mesospy/web", "2", image)
        app = {
            "id": "/images/marathon-web",
            "instances": 1,
            "cpus": 0.1,
            "mem": 32,
            "container": {
                "type": "DOCKER",
                "docker": {"image": f"{registry.host}/mesospy/web:2", "forcePullImage": True},
            },
            "portDefinitions": [{"port": port}],
            "requirePorts": True,
        }
        spec_file = tmp_path / "marathon-web.json"
        spec_file.write_text(json.dumps(app))
        result = CliRunner().invoke(
            cli,
            ["app", "deploy", str(spec_file), "--wait", "--timeout", "90"],
            env={"MESOSPY_MASTER": cluster.master_address},
        )
        assert result.exit_code == 0 and "SUCCEEDED" in result.output, result.output

        def answers() -> bool:
            try:
                url = f"http://127.0.0.1:{port}/os-release"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    return b"ID=marathon-image" in answer.read()
            except OSError:
                return False

        wait_until("the image's httpd on the app's port", answers)
