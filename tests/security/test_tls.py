"""TLS and mutual TLS end to end: real master, agent, framework and CLI processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.client import OperatorClient, OperatorError
from mesospy.scheduler import task
from mesospy.security.channels import ClientSecurity
from mesospy.security.tls import TLSConfig
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb

from .conftest import FAST_MASTER, Certs


@pytest.fixture(scope="module")
def mtls_cluster(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Master and agent that serve only TLS and require client certificates."""
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("mtls"),
        agent_resources="cpus:2;mem:1024",
        # Every caller is authenticated by its certificate's common name.
        master_flags=[
            *FAST_MASTER,
            *certs.server_flags(),
            "--authenticate-frameworks",
            "--authenticate-agents",
            "--authenticate-operators",
        ],
        agent_flags=certs.server_flags(),
        client_security=certs.security("operator"),
    ) as cluster:
        yield cluster


def test_a_task_runs_and_its_output_is_read_over_mutual_tls(
    mtls_cluster: LocalCluster, certs: Certs
) -> None:
    with FrameworkHarness(
        mtls_cluster.master_address, name="tls-framework", tls=certs.client("batch")
    ) as framework:
        framework.submit([task("hello", "echo hello over tls", "cpus:0.1;mem:32")])
        framework.wait(
            lambda: framework.latest_states().get("hello") == pb.TASK_FINISHED,
            timeout=60,
            what="the task to finish",
        )
        framework_id = framework.tasks.framework_id
        (info,) = [f.framework_info for f in mtls_cluster.state().frameworks]
        assert info.principal == "batch"  # from its certificate
    # Operator -> master -> agent, each hop over mutual TLS.
    with OperatorClient(mtls_cluster.master_address, security=certs.security()) as client:
        data = client.read_file(framework_id, "hello", "stdout").data
    assert b"hello over tls" in data


def _refused(address: str, tls: TLSConfig | None) -> OperatorError:
    with pytest.raises(OperatorError) as caught:  # noqa: SIM117
        with OperatorClient(address, timeout=5.0, security=ClientSecurity(tls)) as client:
            client.get_health()
    return caught.value


@pytest.mark.parametrize(
    "case", ["plain text", "no client certificate", "rogue CA", "expired", "untrusted server"]
)
def test_the_master_refuses_clients_without_a_valid_certificate(
    mtls_cluster: LocalCluster, certs: Certs, case: str
) -> None:
    issued, rogue = certs.issued, certs.rogue
    tls = {
        "plain text": None,
        "no client certificate": TLSConfig(ca=issued.ca_cert),
        "rogue CA": TLSConfig(*rogue.clients["operator"], issued.ca_cert),
        "expired": TLSConfig(*certs.expired, issued.ca_cert),
        # The client's certificate is good, but it does not trust the server's CA.
        "untrusted server": TLSConfig(*issued.clients["operator"], rogue.ca_cert),
    }[case]
    error = _refused(mtls_cluster.master_address, tls)
    assert error.code == grpc.StatusCode.UNAVAILABLE


def test_the_agent_refuses_callers_without_a_valid_certificate(
    mtls_cluster: LocalCluster, certs: Certs
) -> None:
    agent = mtls_cluster.agent_daemons[0]
    error = _refused(f"127.0.0.1:{agent.port}", TLSConfig(ca=certs.issued.ca_cert))
    assert error.code == grpc.StatusCode.UNAVAILABLE


def test_the_cli_takes_tls_flags_and_environment(mtls_cluster: LocalCluster, certs: Certs) -> None:
    cert, key = certs.issued.clients["operator"]
    base = [sys.executable, "-m", "mesospy", "agents", "--json"]
    master = ["--master", mtls_cluster.master_address]
    flags = ["--tls-ca", str(certs.issued.ca_cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    ok = subprocess.run([*base, *master, *flags], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert mtls_cluster.state().agents[0].agent_info.id in ok.stdout
    env = {
        "MESOSPY_TLS_CA": str(certs.issued.ca_cert),
        "MESOSPY_TLS_CERT": str(cert),
        "MESOSPY_TLS_KEY": str(key),
        "PATH": "/usr/bin:/bin",
    }
    by_env = subprocess.run([*base, *master], capture_output=True, text=True, timeout=60, env=env)
    assert by_env.returncode == 0, by_env.stderr
    plain = subprocess.run(
        [*base, *master], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
    )
    assert plain.returncode == 1
    assert plain.stderr.startswith("mesospy: error:") and len(plain.stderr.splitlines()) == 1
    assert "--tls-ca" in plain.stderr  # the hint


def test_client_certificates_are_optional_unless_required(certs: Certs, tmp_path: Path) -> None:
    with (
        LocalCluster(
            agents=1,
            work_dir=tmp_path,
            agent_resources="cpus:1;mem:256",
            master_flags=[*FAST_MASTER, *certs.server_flags(require_client_cert=False)],
            agent_flags=certs.server_flags(require_client_cert=False),
            client_security=ClientSecurity(TLSConfig(ca=certs.issued.ca_cert)),
        ) as cluster,
        OperatorClient(
            cluster.master_address, security=ClientSecurity(TLSConfig(ca=certs.issued.ca_cert))
        ) as client,
    ):
        assert len(client.get_agents().agents) == 1


def test_bad_tls_flags_fail_in_one_line(certs: Certs, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mesospy",
            "master",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path),
            "--tls-cert",
            str(certs.issued.server_cert),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--tls-cert and --tls-key go together" in result.stderr
