"""The bundled frameworks' own APIs (batch, service) over TLS, mutual TLS and with
authentication: real master, agent, framework and CLI processes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from frameworks.service.v1 import service_pb2 as spb
from frameworks.service.v1 import service_pb2_grpc
from mesospy.cluster import Daemon
from mesospy.security.channels import ClientSecurity, sync_channel
from mesospy.security.credentials import Credential
from mesospy.security.tls import TLSConfig
from mesospy.testing import LocalCluster
from mesospy.testing.cli import run_mesospy

from .conftest import FAST_MASTER, SECRETS, Certs, write_credentials

JOB = "name: hello\ncommand: echo hello\nresources: {cpus: 0.1, mem: 32}\n"
APP = "id: web\ncmd: sleep 600\ninstances: 0\ncpus: 0.1\nmem: 32\n"


class Secured:
    """A cluster serving TLS whose batch and service APIs require principals and secrets,
    and a second batch framework that requires client certificates instead."""

    def __init__(self, cluster: LocalCluster, batch: Daemon, service: Daemon, mtls: Daemon) -> None:
        self.cluster = cluster
        self.batch = f"127.0.0.1:{batch.port}"
        self.service = f"127.0.0.1:{service.port}"
        self.mtls_batch = f"127.0.0.1:{mtls.port}"


@pytest.fixture(scope="module")
def secured(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    work = tmp_path_factory.mktemp("fwapis")
    credentials = write_credentials(work)
    tls = certs.server_flags(require_client_cert=False)
    with LocalCluster(
        agents=1,
        work_dir=work / "cluster",
        agent_resources="cpus:2;mem:1024",
        # The master knows the principals too (it refuses credentials it cannot check).
        master_flags=[*FAST_MASTER, *tls, "--credentials", str(credentials)],
        agent_flags=tls,
        client_security=ClientSecurity(TLSConfig(ca=certs.issued.ca_cert)),
    ) as cluster:
        auth = [*tls, "--credentials", str(credentials), "--authenticate"]
        batch = cluster.add_framework("batch", wait=False, extra_args=auth)
        service = cluster.add_framework("service", wait=False, extra_args=auth)
        # A second batch framework (its own state): mutual TLS, callers named by certificate.
        mtls = cluster.add_framework(
            "batch",
            wait=False,
            state=str(work / "mtls-batch"),
            extra_args=[*certs.server_flags(require_client_cert=True), "--authenticate"],
        )
        cluster.framework_daemons.update({"batch": batch, "mtls-batch": mtls})
        cluster.wait_for(
            lambda s: sum(f.active for f in s.frameworks) == 3,
            90,
            "the three frameworks to subscribe over TLS",
        )
        yield Secured(cluster, batch, service, mtls)


def _security(
    ca: Path | None, principal: str | None = None, secret: str | None = None
) -> ClientSecurity:
    tls = TLSConfig(ca=ca) if ca is not None else None
    return ClientSecurity(tls, Credential(principal, secret or "") if principal else None)


def _batch(address: str, security: ClientSecurity, rpc: str, request: Any) -> Any:
    with sync_channel(address, security=security) as channel:
        stub: Any = batch_pb2_grpc.BatchStub(channel)  # type: ignore[no-untyped-call]
        return getattr(stub, rpc)(request, timeout=15)


def _service(address: str, security: ClientSecurity, rpc: str, request: Any) -> Any:
    with sync_channel(address, security=security) as channel:
        stub: Any = service_pb2_grpc.AppServiceStub(channel)  # type: ignore[no-untyped-call]
        return getattr(stub, rpc)(request, timeout=15)


def _list(kind: str, secured: Secured, security: ClientSecurity) -> list[str]:
    if kind == "batch":
        jobs = _batch(secured.batch, security, "ListJobs", bpb.ListJobsRequest()).jobs
        return [j.name for j in jobs]
    answer = _service(secured.service, security, "ListApps", spb.ListAppsRequest())
    return [a.id for a in answer.apps]


def _write(kind: str, secured: Secured, security: ClientSecurity) -> None:
    if kind == "batch":
        request = bpb.SubmitJobRequest(spec=JOB, no_run=True)
        _batch(secured.batch, security, "SubmitJob", request)
    else:
        _service(secured.service, security, "Deploy", spb.DeployRequest(spec_json=APP))


def _code(func: Any, *args: Any) -> grpc.StatusCode:
    try:
        func(*args)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


KINDS = ["batch", "service"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_api_serves_tls_only_to_clients_trusting_its_ca(
    secured: Secured, certs: Certs, kind: str
) -> None:
    right = _security(certs.issued.ca_cert, "operator", SECRETS["operator"])
    assert _code(_list, kind, secured, right) == grpc.StatusCode.OK
    plain = _security(None, "operator", SECRETS["operator"])
    assert _code(_list, kind, secured, plain) == grpc.StatusCode.UNAVAILABLE
    rogue = _security(certs.rogue.ca_cert, "operator", SECRETS["operator"])
    assert _code(_list, kind, secured, rogue) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("kind", KINDS)
def test_reads_and_writes_need_valid_credentials(secured: Secured, certs: Certs, kind: str) -> None:
    ca = certs.issued.ca_cert
    right = _security(ca, "operator", SECRETS["operator"])
    before = _list(kind, secured, right)
    for wrong in [
        _security(ca),
        _security(ca, "operator", "not-the-secret"),
        _security(ca, "nobody", SECRETS["operator"]),
        _security(ca, "operator"),
    ]:
        assert _code(_list, kind, secured, wrong) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(_write, kind, secured, wrong) == grpc.StatusCode.UNAUTHENTICATED
    assert _list(kind, secured, right) == before  # nothing happened
    _write(kind, secured, right)
    assert _list(kind, secured, right) == sorted({*before, "hello" if kind == "batch" else "web"})


def test_mutual_tls_names_the_caller_by_its_certificate(secured: Secured, certs: Certs) -> None:
    issued, rogue = certs.issued, certs.rogue
    good = ClientSecurity(TLSConfig(*issued.clients["operator"], issued.ca_cert))
    request = bpb.SubmitJobRequest(spec=JOB, no_run=True)
    assert _batch(secured.mtls_batch, good, "SubmitJob", request).name == "hello"
    for tls in [
        TLSConfig(ca=issued.ca_cert),  # no client certificate
        TLSConfig(*rogue.clients["operator"], issued.ca_cert),  # another CA's
    ]:
        code = _code(
            _batch, secured.mtls_batch, ClientSecurity(tls), "ListJobs", bpb.ListJobsRequest()
        )
        assert code == grpc.StatusCode.UNAVAILABLE


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_mesospy(*args, env=env or {})


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert result.stderr.startswith("mesospy: error:"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_the_cli_takes_the_client_flags_and_environment(
    secured: Secured, certs: Certs, tmp_path: Path
) -> None:
    master = ["--master", secured.cluster.master_address]
    ca = ["--tls-ca", str(certs.issued.ca_cert)]
    # No credentials: refused, in one line (two batch frameworks run: name the one).
    refused = _cli("job", "list", *master, *ca, "--batch", secured.batch)
    assert "requires operators to authenticate" in _one_line_error(refused)
    wrong = _cli(
        "app",
        "list",
        *master,
        *ca,
        "--principal",
        "operator",
        "--secret",
        "nope",
        "--service",
        secured.service,
    )
    assert "could not be authenticated" in _one_line_error(wrong)
    plain = _cli("job", "list", *master, "--batch", secured.batch)
    assert "--tls-ca" in _one_line_error(plain)  # the hint
    # Right ones, by flags and by environment.
    ok = _cli(
        "job",
        "list",
        "--json",
        *master,
        *ca,
        "--principal",
        "operator",
        "--secret",
        SECRETS["operator"],
        "--batch",
        secured.batch,
    )
    assert ok.returncode == 0, ok.stderr
    spec = tmp_path / "web.yaml"
    spec.write_text(APP.replace("web", "cli-web"))
    env = {
        "MESOSPY_TLS_CA": str(certs.issued.ca_cert),
        "MESOSPY_PRINCIPAL": "operator",
        "MESOSPY_SECRET": SECRETS["operator"],
    }
    # The service API found through the master (over TLS).
    deployed = _cli("app", "deploy", str(spec), *master, env=env)
    assert deployed.returncode == 0, deployed.stderr
    listed = _cli("app", "list", "--json", *master, env=env)
    assert listed.returncode == 0 and "cli-web" in listed.stdout, listed.stderr


def test_authenticate_without_any_way_to_pass_it_is_refused_at_start(tmp_path: Path) -> None:
    for name in KINDS:
        result = _cli(name, "serve", "--state", str(tmp_path / name), "--authenticate")
        assert "--credentials" in _one_line_error(result)
