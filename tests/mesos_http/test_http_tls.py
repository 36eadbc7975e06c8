"""With the master's TLS flags the HTTP API is HTTPS, and a verified client certificate
names the caller as it does over gRPC."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from mesos_http_client import MesosHttp, http_master_flags

from mesospy.cluster import free_port
from mesospy.security.certs import Issued, init_certificates
from mesospy.security.channels import ClientSecurity
from mesospy.security.tls import TLSConfig
from mesospy.testing import LocalCluster


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Issued]]:
    base: Path = tmp_path_factory.mktemp("http-tls")
    issued = init_certificates(base / "certs", principals=("operator",))
    flags = [
        "--tls-cert",
        str(issued.server_cert),
        "--tls-key",
        str(issued.server_key),
        "--tls-ca",
        str(issued.ca_cert),
        "--tls-require-client-cert",
    ]
    cert, key = issued.clients["operator"]
    port = free_port()
    with LocalCluster(
        agents=1,
        work_dir=base / "cluster",
        agent_resources="cpus:1;mem:256",
        master_flags=[*http_master_flags(port), *flags, "--authenticate-operators"],
        agent_flags=flags,
        client_security=ClientSecurity(TLSConfig(cert, key, issued.ca_cert)),
    ):
        yield port, issued


def _context(issued: Issued, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(issued.ca_cert))
    if with_cert:
        cert, key = issued.clients["operator"]
        context.load_cert_chain(cert, key)
    return context


def test_https_with_a_client_certificate(tls_cluster: tuple[int, Issued]) -> None:
    port, issued = tls_cluster
    api = MesosHttp(port, tls=_context(issued, with_cert=True))
    answer = api.operator({"type": "GET_STATE"})
    assert answer.status == 200, answer.text
    assert len(answer.json()["get_state"]["get_agents"]["agents"]) == 1
    redirect = api.request("GET", "/master/redirect")
    assert redirect.headers["location"].startswith("https://")


def test_no_client_certificate_no_connection(tls_cluster: tuple[int, Issued]) -> None:
    port, issued = tls_cluster
    with pytest.raises((ssl.SSLError, ConnectionError)):
        MesosHttp(port, tls=_context(issued, with_cert=False)).operator({"type": "GET_STATE"})


def test_plain_http_is_not_served(tls_cluster: tuple[int, Issued]) -> None:
    port, _ = tls_cluster
    with pytest.raises((ConnectionError, OSError)):
        MesosHttp(port).operator({"type": "GET_HEALTH"})
