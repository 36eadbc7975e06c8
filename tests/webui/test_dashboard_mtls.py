"""Under mutual TLS the dashboard is HTTPS with the master's certificate, lets in only
clients with a certificate of the cluster's CA, and takes the certificate's name as the
principal (no login); the ACLs decide what it may do, as on the gRPC port."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import LocalCluster
from mesospy.security.certs import Issued, init_certificates
from mesospy.security.channels import ClientSecurity
from mesospy.testing.security import client_tls, https_context, tls_flags

from .conftest import FAST_MASTER, dashboard_cluster

ACLS = {
    "register_agents": [{"principals": "ANY"}],
    "view_cluster": [{"principals": ["operator", "viewer"]}],
    "drain_agents": [{"principals": ["operator"], "agents": "ANY"}],
}


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return init_certificates(tmp_path_factory.mktemp("tls"), principals=("operator", "viewer"))


@pytest.fixture(scope="module")
def cluster(issued: Issued, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    acls: Path = tmp_path_factory.mktemp("acls") / "acls.json"
    acls.write_text(json.dumps(ACLS))
    tls = tls_flags(issued)
    with dashboard_cluster(
        tmp_path_factory,
        agents=1,
        master_flags=[*FAST_MASTER, *tls, "--authenticate-operators", "--acls", str(acls)],
        agent_flags=tls,
        client_security=ClientSecurity(client_tls(issued, "operator")),
    ) as c:
        yield c


def _opener(issued: Issued, principal: str | None) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=https_context(issued, principal)),
        urllib.request.ProxyHandler({}),
    )


def _url(cluster: LocalCluster) -> str:
    assert cluster.master is not None and cluster.master.webui_url
    assert cluster.master.webui_url.startswith("https://")
    return cluster.master.webui_url


def _session(opener: urllib.request.OpenerDirector, url: str) -> tuple[str, dict[str, object]]:
    with opener.open(url + "api/session", timeout=10) as answer:
        assert "Secure" in answer.headers["Set-Cookie"]
        return answer.headers["Set-Cookie"].split(";")[0], json.loads(answer.read())


def test_a_client_certificate_names_the_principal(cluster: LocalCluster, issued: Issued) -> None:
    opener = _opener(issued, "viewer")
    cookie, session = _session(opener, _url(cluster))
    assert (session["principal"], session["via"]) == ("viewer", "certificate")
    request = urllib.request.Request(_url(cluster) + "api/state", headers={"Cookie": cookie})
    with opener.open(request, timeout=10) as answer:
        assert len(json.loads(answer.read())["agents"]) == 1


def test_the_acls_judge_the_certificate_principal(cluster: LocalCluster, issued: Issued) -> None:
    agent_id = cluster.state().agents[0].agent_info.id
    for principal, allowed in (("viewer", False), ("operator", True)):
        opener = _opener(issued, principal)
        cookie, session = _session(opener, _url(cluster))
        request = urllib.request.Request(
            _url(cluster) + "api/permissions", headers={"Cookie": cookie}
        )
        with opener.open(request, timeout=10) as answer:
            assert json.loads(answer.read())["drain_agents"] == {agent_id: allowed}
    viewer = _opener(issued, "viewer")
    cookie, session = _session(viewer, _url(cluster))
    drain = urllib.request.Request(
        _url(cluster) + "api/agents/deactivate",
        data=json.dumps({"agent_id": agent_id}).encode(),
        headers={
            "Cookie": cookie,
            "X-CSRF-Token": str(session["csrf_token"]),
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        viewer.open(drain, timeout=10)
    assert refused.value.code == 403
    assert all(a.active for a in cluster.state().agents)


def test_without_a_certificate_nothing_gets_in(cluster: LocalCluster, issued: Issued) -> None:
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        _opener(issued, None).open(_url(cluster) + "api/session", timeout=10).read()
