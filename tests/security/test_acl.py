"""Authorization: each ACL rule allows what it names and nothing else (default deny), and
denials name the rule; per-principal rate limits from the same file."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.client import OperatorClient, OperatorError
from mesospy.resources import Reservation, Resources, Volume
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.testing.framework import TaskQueueScheduler
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb
from mesospy.v1 import scheduler_pb2 as spb

from .conftest import FAST_MASTER, SECRETS, call_details, creds, write_credentials

ACLS = """
register_frameworks:
  - principals: [batch]
    roles: [batch]
  - principals: [other]
    roles: NONE
run_tasks:
  - principals: [batch]
    users: [root]
register_agents:
  - principals: [agent]
view_cluster:
  - principals: [operator, batch]
read_sandboxes:
  - principals: [operator]
    users: [root]
drain_agents:
  - principals: [operator]
    agents: ANY
mark_agents_gone:
  - principals: ANY
    agents: NONE
update_weights:
  - principals: [operator]
    roles: [batch]
update_quota:
  - principals: [operator]
    roles: [batch, eng/dev]
teardown_frameworks:
  - principals: [operator]
    framework_principals: [batch]
reserve_resources:
  - principals: [operator]
    roles: [batch]
unreserve_resources:
  - principals: [operator]
    reserver_principals: [operator]
create_volumes:
  - principals: [operator]
    roles: [batch]
destroy_volumes:
  - principals: [operator]
    creator_principals: [operator]
rate_limits:
  - principal: other
    rate: 0.001
    burst: 3
"""


@pytest.fixture(scope="module")
def acl_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    work = tmp_path_factory.mktemp("acl")
    (work / "acls.yaml").write_text(ACLS)
    with LocalCluster(
        agents=1,
        work_dir=work / "cluster",
        agent_resources="cpus:2;mem:1024;disk:256",
        master_flags=[
            *FAST_MASTER,
            "--credentials",
            str(write_credentials(work)),
            "--authenticate-frameworks",
            "--authenticate-agents",
            "--authenticate-operators",
            "--acls",
            str(work / "acls.yaml"),
        ],
        agent_flags=["--principal", "agent", "--secret", SECRETS["agent"]],
        client_security=creds("operator"),
    ) as cluster:
        yield cluster


def _client(cluster: LocalCluster, principal: str) -> OperatorClient:
    return OperatorClient(cluster.master_address, security=creds(principal))


def _denied(action: Callable[[], object], *words: str) -> str:
    with pytest.raises(OperatorError) as caught:
        action()
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED, caught.value
    for word in words:
        assert word in str(caught.value)
    return str(caught.value)


@pytest.fixture(scope="module")
def batch(acl_cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    """The batch framework, in role batch, holding its offers for the test to use."""
    with FrameworkHarness(
        acl_cluster.master_address,
        TaskQueueScheduler(hold_offers=True),
        name="batch",
        roles=["batch"],
        principal="batch",
        secret=SECRETS["batch"],
    ) as framework:
        framework.wait(lambda: bool(framework.tasks.offers_seen), 60, "an offer")
        yield framework


def _accept(cluster: LocalCluster, framework: FrameworkHarness, tasks: list[pb.TaskInfo]):
    offer = framework.tasks.offers_seen[-1]
    for info in tasks:
        info.agent_id = offer.agent_id
    accept = spb.Call(
        type=spb.Call.ACCEPT,
        framework_id=framework.tasks.framework_id,
        stream_id=framework.driver._stream_id,
    )
    accept.accept.offer_ids.append(offer.id)
    operation = accept.accept.operations.add(type=spb.Call.Operation.LAUNCH)
    operation.launch.task_infos.extend(tasks)
    metadata = (("x-mesospy-principal", "batch"), ("x-mesospy-secret", SECRETS["batch"]))
    return call_details(
        cluster.master_address, "/mesospy.v1.Scheduler/Send", accept, spb.Response, False, metadata
    )


def test_register_frameworks_by_role(acl_cluster: LocalCluster, batch: FrameworkHarness) -> None:
    names = {f.framework_info.name for f in acl_cluster.state().frameworks}
    assert "batch" in names  # allowed: batch in role batch
    for principal, roles, expected in [
        ("batch", ["prod"], "no ACL rule of 'register_frameworks' allows it"),
        ("other", ["batch"], "denied by ACL rule register_frameworks[1]"),
    ]:
        subscribe = spb.Call(type=spb.Call.SUBSCRIBE)
        subscribe.subscribe.framework_info.CopyFrom(pb.FrameworkInfo(name="x", roles=roles))
        metadata = (("x-mesospy-principal", principal), ("x-mesospy-secret", SECRETS[principal]))
        code, details = call_details(
            acl_cluster.master_address,
            "/mesospy.v1.Scheduler/Subscribe",
            subscribe,
            spb.Events,
            True,
            metadata,
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert expected in details
    assert "x" not in {f.framework_info.name for f in acl_cluster.state().frameworks}


def _as(user: str, task_id: str, shell: str = "id -un") -> pb.TaskInfo:
    info = task(task_id, shell, "cpus:0.1;mem:32")
    info.command.user = user
    return info


def test_run_tasks_as_allowed_users_only(
    acl_cluster: LocalCluster, batch: FrameworkHarness
) -> None:
    code, details = _accept(acl_cluster, batch, [_as("root", "ok"), _as("nobody", "as-nobody")])
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "may not run tasks as user 'nobody'" in details
    assert not [t for t in acl_cluster.state().tasks if t.task_id in ("ok", "as-nobody")]
    # Nothing happened: the offer is still the framework's to use.
    code, details = _accept(acl_cluster, batch, [_as("root", "ok")])
    assert code == grpc.StatusCode.OK, details
    batch.wait(lambda: batch.latest_states().get("ok") == pb.TASK_FINISHED, 60, "'ok' to end")
    # The operator may read sandboxes of tasks run as root; batch may not read any.
    with _client(acl_cluster, "operator") as client:
        assert client.read_file(batch.tasks.framework_id, "ok", "stdout").data == b"root\n"
    with _client(acl_cluster, "batch") as client:
        _denied(
            lambda: client.read_file(batch.tasks.framework_id, "ok", "stdout"),
            "read the sandbox of a task running as user 'root'",
        )


def test_view_cluster(acl_cluster: LocalCluster) -> None:
    with _client(acl_cluster, "batch") as client:
        assert client.get_state().agents
    with _client(acl_cluster, "agent") as client:
        _denied(client.get_state, "view the cluster state", "default deny")


def test_drain_and_mark_agents_gone(acl_cluster: LocalCluster) -> None:
    agent_id = acl_cluster.state().agents[0].agent_info.id
    with _client(acl_cluster, "batch") as client:
        _denied(lambda: client.deactivate_agent(agent_id), "drain, deactivate or reactivate")
    with _client(acl_cluster, "operator") as client:
        client.deactivate_agent(agent_id)
        client.reactivate_agent(agent_id)
        _denied(lambda: client.mark_agent_gone(agent_id), "mark_agents_gone[0]")
    assert acl_cluster.state().agents[0].active


def test_update_weights_by_role(acl_cluster: LocalCluster) -> None:
    with _client(acl_cluster, "operator") as client:
        assert client.update_weights({"batch": 2.0})["batch"] == 2.0
        _denied(lambda: client.update_weights({"prod": 3.0}), "update the weight of role 'prod'")
        assert "prod" not in client.get_weights()
    with _client(acl_cluster, "batch") as client:
        _denied(lambda: client.update_weights({"batch": 5.0}))


def test_update_quota_by_role_default_deny(acl_cluster: LocalCluster) -> None:
    dev = opb.QuotaConfig(role="eng/dev", limits={"cpus": 1})
    ops = opb.QuotaConfig(role="eng/ops", limits={"cpus": 1})
    with _client(acl_cluster, "operator") as client:
        assert [c.role for c in client.update_quota([dev])] == ["eng/dev"]
        # One denied role refuses the whole request: nothing of it is set.
        _denied(lambda: client.update_quota([dev, ops]), "update the quota of role 'eng/ops'")
        assert [c.role for c in client.get_quota()] == ["eng/dev"]
        client.update_quota([opb.QuotaConfig(role="eng/dev")])
    with _client(acl_cluster, "batch") as client:  # no rule names it: default deny
        _denied(lambda: client.update_quota([dev]), "no ACL rule of 'update_quota' allows it")
        assert client.get_quota() == []  # view_cluster allows reading


def test_register_agents(acl_cluster: LocalCluster) -> None:
    info = pb.AgentInfo(
        hostname="127.0.0.1", port=1, resources=acl_cluster.state().agents[0].agent_info.resources
    )
    metadata = (("x-mesospy-principal", "batch"), ("x-mesospy-secret", SECRETS["batch"]))
    code, details = call_details(
        acl_cluster.master_address,
        "/mesospy.v1.AgentRegistry/RegisterAgent",
        apb.RegisterAgentRequest(agent_info=info),
        apb.RegisterAgentResponse,
        False,
        metadata,
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "register an agent" in details
    assert len(acl_cluster.state().agents) == 1


def test_register_agents_on_a_session(acl_cluster: LocalCluster) -> None:
    # An agent's session (Connect) registers with its first message: the same ACL applies,
    # and a caller without credentials is refused before any message is read.
    info = pb.AgentInfo(
        hostname="127.0.0.1", port=1, resources=acl_cluster.state().agents[0].agent_info.resources
    )
    register = apb.AgentMessage(register=apb.RegisterAgentRequest(agent_info=info))

    async def session(
        metadata: tuple[tuple[str, str], ...], send: bool = True
    ) -> tuple[grpc.StatusCode, str]:
        async with grpc.aio.insecure_channel(acl_cluster.master_address) as channel:
            call = channel.stream_stream(
                "/mesospy.v1.AgentRegistry/Connect",
                request_serializer=apb.AgentMessage.SerializeToString,
                response_deserializer=apb.MasterMessage.FromString,
            )(metadata=metadata)
            # A master that refuses the caller outright ends the call before reading: the
            # write itself may fail then. Either way the call's status says why.
            try:
                if send:
                    await call.write(register)
                await call.read()
            except grpc.aio.AioRpcError:
                return await call.code(), await call.details() or ""
            raise AssertionError("the registration was answered")

    code, details = asyncio.run(
        session((("x-mesospy-principal", "batch"), ("x-mesospy-secret", SECRETS["batch"])))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "register an agent" in details
    # Refused before any message is read: the caller sends none, so no write races the
    # refusal (a write that did got INTERNAL from gRPC's transport now and then).
    code, details = asyncio.run(session((), send=False))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert len(acl_cluster.state().agents) == 1


def test_rate_limit_per_principal(acl_cluster: LocalCluster) -> None:
    codes = []
    with _client(acl_cluster, "other") as client:
        for _ in range(5):
            try:
                client.get_state()
            except OperatorError as exc:
                codes.append((exc.code, str(exc)))
    # Calls within the burst (3, shared with this principal's earlier tests) reach the
    # ACLs; after that the bucket is empty (it refills once in 1000 s).
    kinds = [c for c, _ in codes]
    exhausted = kinds.index(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert 1 <= exhausted <= 3
    assert set(kinds[:exhausted]) == {grpc.StatusCode.PERMISSION_DENIED}
    assert set(kinds[exhausted:]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert "rate limit of 0.001 calls/s (burst 3)" in codes[-1][1]
    with _client(acl_cluster, "operator") as client:  # other principals are not affected
        client.get_state()


def test_teardown_frameworks_by_principal(
    acl_cluster: LocalCluster, batch: FrameworkHarness
) -> None:
    framework_id = batch.tasks.framework_id
    with _client(acl_cluster, "batch") as client:
        _denied(lambda: client.teardown_framework(framework_id), "tear down a framework")
    with _client(acl_cluster, "operator") as client:
        client.teardown_framework(framework_id)
    assert framework_id not in {f.framework_info.id for f in acl_cluster.state().frameworks}


def test_reservations_and_volumes_by_role_and_by_who_made_them(
    acl_cluster: LocalCluster,
) -> None:
    (agent,) = acl_cluster.state().agents
    agent_id = agent.agent_info.id
    by_operator = Reservation("batch", "operator", kind="DYNAMIC")
    disk = Resources.parse("disk:64").reserve(by_operator)
    volume = disk.with_volume(Volume("db", "data", principal="operator"))
    with _client(acl_cluster, "operator") as operator, _client(acl_cluster, "batch") as batch:
        eng = Resources.parse("disk:64").reserve(Reservation("eng", "operator", kind="DYNAMIC"))
        _denied(lambda: operator.reserve_resources(agent_id, eng), "reserve resources for role")
        operator.reserve_resources(agent_id, disk)
        operator.create_volumes(agent_id, volume)
        # Another principal may not destroy the volume (nor even see the cluster's way).
        _denied(
            lambda: batch.destroy_volumes(agent_id, volume),
            "principal 'batch' may not destroy persistent volumes created by principal 'operator'",
        )
        (after,) = acl_cluster.state().agents
        assert Resources.from_proto(after.total_resources).contains(volume)  # still there
        operator.destroy_volumes(agent_id, volume)
        total = operator.unreserve_resources(agent_id, disk)
    assert total == Resources.from_proto(agent.agent_info.resources)


def test_a_bad_acl_file_stops_the_master_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "acls.yaml").write_text("run_tasks:\n  - users: [nobody]\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mesospy",
            "master",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path / "m"),
            "--acls",
            str(tmp_path / "acls.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "run_tasks[0]: 'principals' is missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
