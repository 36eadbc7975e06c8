"""The HTTP port itself: with the master's TLS flags it is HTTPS, and a verified client
certificate names the caller as over gRPC; a port it cannot have fails the master in one line.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import free_port
from mesospy.security.certs import Issued, init_certificates
from mesospy.security.channels import ClientSecurity
from mesospy.testing import LocalCluster
from mesospy.testing.cli import run_mesospy
from mesospy.testing.security import client_tls, https_context, tls_flags

from .mesos_http_client import MesosHttp, http_master_flags


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Issued]]:
    base: Path = tmp_path_factory.mktemp("http-tls")
    issued = init_certificates(base / "certs", principals=("operator",))
    flags = tls_flags(issued)
    port = free_port()
    with LocalCluster(
        agents=1,
        work_dir=base / "cluster",
        agent_resources="cpus:1;mem:256",
        master_flags=[*http_master_flags(port), *flags, "--authenticate-operators"],
        agent_flags=flags,
        client_security=ClientSecurity(client_tls(issued, "operator")),
    ):
        yield port, issued


def test_https_with_a_client_certificate(tls_cluster: tuple[int, Issued]) -> None:
    port, issued = tls_cluster
    api = MesosHttp(port, tls=https_context(issued, "operator"))
    answer = api.operator({"type": "GET_STATE"})
    assert answer.status == 200, answer.text
    assert len(answer.json()["get_state"]["get_agents"]["agents"]) == 1
    redirect = api.request("GET", "/master/redirect")
    assert redirect.headers["location"].startswith("https://")


def test_no_client_certificate_no_connection(tls_cluster: tuple[int, Issued]) -> None:
    port, issued = tls_cluster
    with pytest.raises((ssl.SSLError, ConnectionError)):
        MesosHttp(port, tls=https_context(issued, None)).operator({"type": "GET_STATE"})


def test_plain_http_is_not_served(tls_cluster: tuple[int, Issued]) -> None:
    port, _ = tls_cluster
    with pytest.raises((ConnectionError, OSError)):
        MesosHttp(port).operator({"type": "GET_HEALTH"})


def test_a_taken_http_port_fails_the_master_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_mesospy(
            "master",
            "--port",
            str(free_port()),
            "--work-dir",
            str(tmp_path),
            "--http-port",
            str(port),
        )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot serve the HTTP API on 127.0.0.1:{port}" in lines[0]
