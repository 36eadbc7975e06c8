"""The HTTP APIs are behind the same authentication and ACLs as the gRPC ones: HTTP Basic
``principal:secret`` stands for the gRPC credentials; refusals are 401 and 403."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import free_port
from mesospy.security.channels import ClientSecurity
from mesospy.security.credentials import Credential
from mesospy.testing import LocalCluster
from mesospy.testing.security import ALL_CALLERS, authentication_flags, write_credentials

from .mesos_http_client import EventStream, MesosHttp, http_master_flags

SECRETS = {
    "operator": "op-secret",
    "viewer": "view-secret",
    "batch": "batch-secret",
    "agent": "agent-secret",
}
ACLS = """
register_frameworks:
  - principals: [batch]
    roles: [batch]
view_cluster:
  - principals: [operator, viewer]
register_agents:
  - principals: [agent]
drain_agents:
  - principals: [operator]
    agents: ANY
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    work: Path = tmp_path_factory.mktemp("http-secured")
    credentials = write_credentials(work, SECRETS)
    (work / "acls.yaml").write_text(ACLS)
    port = free_port()
    with LocalCluster(
        agents=1,
        work_dir=work / "cluster",
        agent_resources="cpus:2;mem:1024",
        master_flags=[
            *http_master_flags(port),
            *authentication_flags(credentials, ALL_CALLERS, work / "acls.yaml"),
        ],
        agent_flags=["--principal", "agent", "--secret", SECRETS["agent"]],
        client_security=ClientSecurity(None, Credential("operator", SECRETS["operator"])),
    ):
        yield port


def test_anonymous_calls_are_401_with_a_basic_challenge(secured: int) -> None:
    answer = MesosHttp(secured).operator({"type": "GET_STATE"})
    assert answer.status == 401
    assert "authenticate" in answer.text
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert MesosHttp(secured).request("GET", "/master/state").status == 401


def test_health_needs_no_credentials(secured: int) -> None:
    answer = MesosHttp(secured).operator({"type": "GET_HEALTH"})
    assert answer.status == 200 and answer.json()["get_health"]["healthy"] is True


def test_wrong_secret_is_401(secured: int) -> None:
    answer = MesosHttp(secured, ("operator", "wrong")).operator({"type": "GET_STATE"})
    assert answer.status == 401 and "operator" in answer.text


def test_a_bad_authorization_header_is_401(secured: int) -> None:
    api = MesosHttp(secured)
    answer = api.post("/api/v1", {"type": "GET_STATE"}, Authorization="Bearer abc")
    assert answer.status == 401 and "Basic" in answer.text
    answer = api.post("/api/v1", {"type": "GET_STATE"}, Authorization="Basic !!!")
    assert answer.status == 401


def test_acls_apply_as_over_grpc(secured: int) -> None:
    viewer = MesosHttp(secured, ("viewer", SECRETS["viewer"]))
    state = viewer.operator({"type": "GET_STATE"})
    assert state.status == 200, state.text
    agent_id = state.json()["get_state"]["get_agents"]["agents"][0]["agent_info"]["id"]
    drain = {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent_id}}
    denied = viewer.operator(drain)
    assert denied.status == 403, denied.text
    after = viewer.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]
    assert "drain_info" not in after  # refused: nothing changed
    batch = MesosHttp(secured, ("batch", SECRETS["batch"]))
    assert batch.operator({"type": "GET_STATE"}).status == 403


def test_a_framework_subscribes_with_basic_credentials(secured: int) -> None:
    info = {"name": "secured-http", "roles": ["batch"], "principal": "batch"}
    anonymous = MesosHttp(secured).post(
        "/api/v1/scheduler", {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    )
    assert anonymous.status == 401
    wrong_role = {**info, "roles": ["prod"]}
    batch = MesosHttp(secured, ("batch", SECRETS["batch"]))
    denied = batch.post(
        "/api/v1/scheduler", {"type": "SUBSCRIBE", "subscribe": {"framework_info": wrong_role}}
    )
    assert denied.status == 403, denied.text
    status, stream = batch.stream(
        "/api/v1/scheduler", {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    )
    assert status == 200 and isinstance(stream, EventStream), stream
    try:
        subscribed = stream.next()
        assert subscribed["type"] == "SUBSCRIBED"
        framework_id = subscribed["subscribed"]["framework_id"]
        teardown = batch.post(
            "/api/v1/scheduler",
            {"type": "TEARDOWN", "framework_id": framework_id},
            Mesos_Stream_Id=stream.headers["mesos-stream-id"],
        )
        assert teardown.status == 202, teardown.text
    finally:
        stream.close()
