"""Authentication: every call of every service with missing, wrong and right credentials;
frameworks and agents bound to the principal that registered them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.client import OperatorClient
from mesospy.scheduler import task
from mesospy.security.credentials import PRINCIPAL_KEY, SECRET_KEY
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

from .conftest import FAST_MASTER, SECRETS, all_methods, call, creds, write_credentials


@pytest.fixture(scope="module")
def auth_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A master that requires every kind of caller to authenticate, and one agent."""
    work = tmp_path_factory.mktemp("auth")
    credentials = write_credentials(work)
    with LocalCluster(
        agents=1,
        work_dir=work / "cluster",
        agent_resources="cpus:2;mem:1024",
        master_flags=[
            *FAST_MASTER,
            "--credentials",
            str(credentials),
            "--authenticate-frameworks",
            "--authenticate-agents",
            "--authenticate-operators",
        ],
        agent_flags=["--principal", "agent", "--secret", SECRETS["agent"]],
        client_security=creds("operator"),
    ) as cluster:
        yield cluster


def _metadata(principal: str, secret: str) -> tuple[tuple[str, str], ...]:
    return ((PRINCIPAL_KEY, principal), (SECRET_KEY, secret))


def _summary(cluster: LocalCluster) -> tuple[int, int, int]:
    state = cluster.state()
    return len(state.frameworks), len(state.agents), len(state.tasks)


METHODS = all_methods()


@pytest.mark.parametrize("method", METHODS, ids=[m[0] for m in METHODS])
def test_every_call_needs_valid_credentials(
    auth_cluster: LocalCluster, method: tuple[str, type, type, bool]
) -> None:
    name, request_type, response_type, streaming = method
    address = auth_cluster.master_address
    before = _summary(auth_cluster)
    request = request_type()
    if name.endswith("GetHealth"):  # probes need no credentials
        assert call(address, name, request, response_type, streaming) == grpc.StatusCode.OK
        return
    for metadata in [
        (),
        _metadata("batch", "not-the-secret"),
        _metadata("nobody", SECRETS["batch"]),
        ((PRINCIPAL_KEY, "batch"),),
    ]:
        code = call(address, name, request, response_type, streaming, metadata)
        assert code == grpc.StatusCode.UNAUTHENTICATED, (metadata, code)
    assert _summary(auth_cluster) == before  # nothing happened
    right = _metadata("operator", SECRETS["operator"])
    code = call(address, name, request, response_type, streaming, right, timeout=3.0)
    assert code != grpc.StatusCode.UNAUTHENTICATED


def test_an_authenticated_framework_runs_tasks_as_its_principal(
    auth_cluster: LocalCluster,
) -> None:
    with FrameworkHarness(
        auth_cluster.master_address, name="authed", principal="batch", secret=SECRETS["batch"]
    ) as framework:
        framework.submit([task("t1", "true", "cpus:0.1;mem:32")])
        framework.wait(
            lambda: framework.latest_states().get("t1") == pb.TASK_FINISHED, 60, "t1 to finish"
        )
        frameworks = {f.framework_info.name: f for f in auth_cluster.state().frameworks}
        assert frameworks["authed"].framework_info.principal == "batch"


def test_a_framework_with_a_wrong_secret_is_refused(auth_cluster: LocalCluster) -> None:
    with FrameworkHarness(
        auth_cluster.master_address, name="wrong", principal="batch", secret="guess"
    ) as framework:
        framework.wait(lambda: bool(framework.tasks.errors), 30, "the refusal")
        assert "could not be authenticated" in framework.tasks.errors[0]
    assert "wrong" not in {f.framework_info.name for f in auth_cluster.state().frameworks}


def _send(address: str, principal: str, request: spb.Call) -> grpc.StatusCode:
    metadata = _metadata(principal, SECRETS[principal])
    return call(address, "/mesospy.v1.Scheduler/Send", request, spb.Response, False, metadata)


def test_a_framework_cannot_act_for_another(auth_cluster: LocalCluster) -> None:
    address = auth_cluster.master_address
    with FrameworkHarness(
        address, name="victim", principal="batch", secret=SECRETS["batch"]
    ) as victim:
        victim.submit([task("long", "sleep 60", "cpus:0.1;mem:32")])
        victim.wait(
            lambda: victim.latest_states().get("long") == pb.TASK_RUNNING, 60, "the task to run"
        )
        framework_id = victim.tasks.framework_id
        # Even with the victim's stream id (which only it was told), "other" gets nowhere.
        stream_id = victim.driver._stream_id
        agent_id = victim.tasks.launched[0].agent_id
        base = {"framework_id": framework_id, "stream_id": stream_id}
        attacks = [
            spb.Call(type=spb.Call.KILL, kill=spb.Call.Kill(task_id="long"), **base),
            spb.Call(
                type=spb.Call.RECONCILE,
                reconcile=spb.Call.Reconcile(
                    tasks=[spb.Call.Reconcile.Task(task_id="long", agent_id=agent_id)]
                ),
                **base,
            ),
            spb.Call(type=spb.Call.REVIVE, **base),
            spb.Call(type=spb.Call.SUPPRESS, **base),
            spb.Call(type=spb.Call.TEARDOWN, **base),
        ]
        for attack in attacks:
            assert _send(address, "other", attack) == grpc.StatusCode.PERMISSION_DENIED, attack
        takeover = spb.Call(type=spb.Call.SUBSCRIBE)
        takeover.subscribe.framework_info.CopyFrom(
            pb.FrameworkInfo(id=framework_id, name="victim", principal="other")
        )
        metadata = _metadata("other", SECRETS["other"])
        code = call(
            address, "/mesospy.v1.Scheduler/Subscribe", takeover, spb.Events, True, metadata
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
        # Claiming another principal in FrameworkInfo is refused too.
        claim = spb.Call(type=spb.Call.SUBSCRIBE)
        claim.subscribe.framework_info.CopyFrom(pb.FrameworkInfo(name="x", principal="batch"))
        code = call(address, "/mesospy.v1.Scheduler/Subscribe", claim, spb.Events, True, metadata)
        assert code == grpc.StatusCode.PERMISSION_DENIED
        # Through its own subscription, "other" can neither kill nor read the victim's task:
        # the master looks only among other's own tasks.
        with FrameworkHarness(
            address, name="intruder", principal="other", secret=SECRETS["other"]
        ) as intruder:
            intruder.wait(lambda: bool(intruder.tasks.framework_id), 30, "the subscription")
            intruder.driver.kill("long", agent_id)
            intruder.driver.reconcile([("long", agent_id)])
            intruder.driver.reconcile()  # implicit: every task *it* has
            intruder.wait(lambda: bool(intruder.tasks.statuses), 30, "the reconcile answer")
            answers = [s for s in intruder.tasks.statuses if s.task_id == "long"]
            assert answers and all(s.state != pb.TASK_RUNNING for s in answers)
            assert all(s.framework_id != framework_id for s in intruder.tasks.statuses)
        state = auth_cluster.state()
        (victim_state,) = [f for f in state.frameworks if f.framework_info.id == framework_id]
        assert victim_state.active
        assert [t.state for t in state.tasks if t.task_id == "long"] == [pb.TASK_RUNNING]
        assert victim.tasks.errors == []


def test_an_agent_cannot_speak_for_another(auth_cluster: LocalCluster) -> None:
    address = auth_cluster.master_address
    agent_id = auth_cluster.state().agents[0].agent_info.id
    metadata = _metadata("other", SECRETS["other"])
    heartbeat = apb.HeartbeatRequest(agent_id=agent_id)
    code = call(
        address,
        "/mesospy.v1.AgentRegistry/Heartbeat",
        heartbeat,
        apb.HeartbeatResponse,
        False,
        metadata,
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    update = apb.StatusUpdates(agent_id=agent_id)
    status = update.updates.add().status
    status.CopyFrom(pb.TaskStatus(task_id="long", state=pb.TASK_FAILED, uuid=b"x" * 16))
    code = call(
        address,
        "/mesospy.v1.AgentRegistry/UpdateStatus",
        update,
        apb.UpdateStatusResponse,
        False,
        metadata,
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_a_secured_agent_takes_calls_only_from_its_master(auth_cluster: LocalCluster) -> None:
    agent = auth_cluster.agent_daemons[0]
    request = apb.RunTasksRequest(framework_info=pb.FrameworkInfo(id="x", name="evil"))
    request.tasks.add(task_id="evil", name="evil").command.shell = "touch /tmp/pwned"
    code = call(
        f"127.0.0.1:{agent.port}",
        "/mesospy.v1.Agent/RunTasks",
        request,
        apb.AgentResponse,
        False,
        _metadata("operator", SECRETS["operator"]),
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_the_cli_authenticates_with_flags_or_environment(
    auth_cluster: LocalCluster, tmp_path: Path
) -> None:
    base = [sys.executable, "-m", "mesospy", "frameworks", "--json"]
    master = ["--master", auth_cluster.master_address]
    flags = ["--principal", "operator", "--secret", SECRETS["operator"]]
    env = {"PATH": "/usr/bin:/bin"}
    ok = subprocess.run([*base, *master, *flags], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    env_ok = {**env, "MESOSPY_PRINCIPAL": "operator", "MESOSPY_SECRET": SECRETS["operator"]}
    by_env = subprocess.run([*base, *master], capture_output=True, text=True, env=env_ok)
    assert by_env.returncode == 0, by_env.stderr
    bad = [*base, *master, "--principal", "operator", "--secret", "wrong"]
    wrong = subprocess.run(bad, capture_output=True, text=True, env=env)
    assert wrong.returncode == 1
    assert "could not be authenticated" in wrong.stderr
    assert len(wrong.stderr.splitlines()) == 1


def test_mesospy_run_authenticates_as_a_framework(auth_cluster: LocalCluster) -> None:
    command = [sys.executable, "-m", "mesospy", "run", "--master", auth_cluster.master_address]
    secret = ["--principal", "batch", "--secret", SECRETS["batch"]]
    env = {"PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [*command, *secret, "--", "echo", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "hi" in ok.stdout
    refused = subprocess.run(
        [*command, "--", "true"], capture_output=True, text=True, env=env, timeout=120
    )
    assert refused.returncode != 0
    assert "authenticate" in refused.stderr


def test_operator_client_with_credentials(auth_cluster: LocalCluster) -> None:
    with OperatorClient(auth_cluster.master_address, security=creds("operator")) as client:
        assert len(client.get_agents().agents) == 1
