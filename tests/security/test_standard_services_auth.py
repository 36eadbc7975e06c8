"""The standard services under the security layer: health answers anyone (a load balancer
has no credentials) and is never rate limited; reflection is an operator's call like any
other, so it needs credentials wherever operators must authenticate, and a secured agent
answers it to nobody but its master."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.security.channels import ClientSecurity, sync_channel
from mesospy.security.tls import TLSConfig
from mesospy.testing import LocalCluster
from mesospy.testing.reflection import ReflectionClient, health_status

from .conftest import FAST_MASTER, SECRETS, Certs, creds, write_credentials

# Only what the cluster itself needs is allowed; anonymous callers (and everyone but the
# operator) get one call a second.
ACLS = """
register_agents:
  - principals: [agent]
view_cluster:
  - principals: [operator]
rate_limits:
  - principal: operator
    rate: 1000
    burst: 1000
"""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Every kind of caller must authenticate, under ACLs and rate limits."""
    work = tmp_path_factory.mktemp("standard-auth")
    credentials = write_credentials(work)
    (work / "acls.yaml").write_text(ACLS)
    with LocalCluster(
        agents=1,
        work_dir=work / "cluster",
        agent_resources="cpus:1;mem:256",
        master_flags=[
            *FAST_MASTER,
            "--credentials",
            str(credentials),
            "--authenticate-frameworks",
            "--authenticate-agents",
            "--authenticate-operators",
            "--acls",
            str(work / "acls.yaml"),
            "--rate-limit",
            "1:1",
        ],
        agent_flags=["--principal", "agent", "--secret", SECRETS["agent"]],
        client_security=creds("operator"),
    ) as cluster:
        yield cluster


def test_health_needs_no_credentials_and_no_rate_limit_applies(guarded: LocalCluster) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.master_port}") as channel:
        statuses = [health_status(channel, "") for _ in range(20)]
        assert statuses == ["SERVING"] * 20
        assert health_status(channel, "mesospy.alive") == "SERVING"


def test_reflection_needs_an_operators_credentials(guarded: LocalCluster) -> None:
    address = f"127.0.0.1:{guarded.master_port}"
    with grpc.insecure_channel(address) as anonymous:
        with pytest.raises(grpc.RpcError) as refused:
            ReflectionClient(anonymous).services()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "requires operators to authenticate" in (refused.value.details() or "")
    with sync_channel(address, security=creds("operator")) as channel:
        client = ReflectionClient(channel)
        assert "mesospy.v1.Operator" in client.services()
        answer = client.call("mesospy.v1.Operator/GetHealth")
        assert answer.healthy


def test_a_secured_agent_answers_health_to_anyone_and_reflection_to_no_one(
    guarded: LocalCluster,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.agent_daemons[0].port}") as channel:
        assert health_status(channel, "") == "SERVING"
        with pytest.raises(grpc.RpcError) as refused:
            ReflectionClient(channel).services()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_over_tls_and_mutual_tls(certs: Certs, tmp_path: Path) -> None:
    """Health shares the server's port and so its TLS: under mutual TLS a probe needs a
    client certificate like any caller."""
    with LocalCluster(
        agents=0,
        work_dir=tmp_path,
        master_flags=[*FAST_MASTER, *certs.server_flags(require_client_cert=True)],
        client_security=ClientSecurity(certs.client("operator")),
    ) as cluster:
        address = f"127.0.0.1:{cluster.master_port}"
        with sync_channel(address, security=ClientSecurity(certs.client("operator"))) as channel:
            assert health_status(channel, "") == "SERVING"
        no_cert = ClientSecurity(TLSConfig(ca=certs.issued.ca_cert))
        with sync_channel(address, security=no_cert) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                health_status(channel, "", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
