"""The masters' side of agents' standby sessions (see ``AgentRegistry.Connect`` in
agent.proto), driven by a bare gRPC client against real masters contending in a real
ZooKeeper: a standby master keeps a re-registration, refuses what it cannot take with a
status that says what to do, and once elected takes the agent over on ``resume``."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from mesospy.client import OperatorClient, OperatorError
from mesospy.cluster import Daemon
from mesospy.resources import Resources
from mesospy.testing import LocalCluster
from mesospy.testing.agent_session import expect_refusal, open_session
from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb

MASTER_FLAGS = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "5",
    "--zk-session-timeout",
    "4",
    "--agent-reregister-timeout",
    "30",
]
FRAMEWORK = pb.FrameworkInfo(id="fw-standby", name="standby-test", user="nobody")


@pytest.fixture
def masters(zookeeper: ZooKeeperSandbox, tmp_path: Path) -> Iterator[LocalCluster]:
    """Two masters contending in ZooKeeper, no agents."""
    with LocalCluster(
        agents=0, masters=2, zk=zookeeper.url, work_dir=tmp_path, master_flags=MASTER_FLAGS
    ) as cluster:
        yield cluster


def _info(agent_id: str = "") -> pb.AgentInfo:
    return pb.AgentInfo(
        id=agent_id,
        hostname="127.0.0.1",
        port=40001,
        resources=Resources.parse("cpus:4;mem:1024").to_proto(),
    )


def _task(n: int) -> pb.Task:
    return pb.Task(
        name=f"t{n}",
        task_id=f"t{n}",
        framework_id=FRAMEWORK.id,
        state=pb.TASK_RUNNING,
        resources=Resources.parse("cpus:1;mem:64").to_proto(),
    )


def _reregister(agent_id: str, tasks: int, finished: int = 0) -> apb.AgentMessage:
    """``tasks`` RUNNING, then ``finished`` FINISHED (their ends not acknowledged yet)."""
    ended = [_task(n) for n in range(tasks, tasks + finished)]
    for task in ended:
        task.state = pb.TASK_FINISHED
    request = apb.ReregisterAgentRequest(
        agent_info=_info(agent_id),
        tasks=[*(_task(n) for n in range(tasks)), *ended],
        frameworks=[FRAMEWORK],
    )
    return apb.AgentMessage(reregister=request, standby=True)


def _metrics(daemon: Daemon) -> dict[str, float]:
    with OperatorClient(f"127.0.0.1:{daemon.port}", timeout=10.0) as client:
        return client.get_metrics()


def _await(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except OperatorError:
            pass
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


async def _await_async(condition: Any, timeout: float = 30.0) -> None:
    await asyncio.to_thread(_await, condition, timeout)


def _used_cpus(daemon: Daemon) -> float:
    with OperatorClient(f"127.0.0.1:{daemon.port}", timeout=10.0) as client:
        (agent,) = client.get_state().agents
    return Resources.from_proto(agent.used_resources).scalar("cpus")


def _standby_of(cluster: LocalCluster) -> tuple[Daemon, Daemon]:
    leader = cluster.leader()
    standby = next(d for d in cluster.master_daemons if d is not leader)
    _await(lambda: _metrics(standby) is not None)  # serving (it may start after the leader)
    return leader, standby


def _address(daemon: Daemon) -> str:
    return f"127.0.0.1:{daemon.port}"


async def _registered_id(leader: Daemon) -> tuple[str, Any, grpc.aio.Channel]:
    """An agent registered with the leader: (its id, its session, the channel)."""
    call, channel = await open_session(
        _address(leader), apb.AgentMessage(register=apb.RegisterAgentRequest(agent_info=_info()))
    )
    answer = await call.read()
    assert answer.WhichOneof("body") == "registered"
    return answer.registered.agent_id, call, channel


def test_a_standby_master_keeps_a_reregistration_and_refuses_the_rest(
    masters: LocalCluster,
) -> None:
    leader, standby = _standby_of(masters)

    async def scenario() -> None:
        agent_id, _, leader_channel = await _registered_id(leader)

        # Kept, and answered with what the agent needs once this master leads.
        call, channel = await open_session(_address(standby), _reregister(agent_id, 1))
        answer = await call.read()
        assert answer.WhichOneof("body") == "standing_by"
        assert answer.standing_by.master_info.port == standby.port
        assert answer.standing_by.heartbeat_interval_seconds == 5
        await _await_async(lambda: _metrics(standby)["mesospy_master_standby_sessions"] == 1)
        # A fresh re-registration replaces it, unanswered; anything else ends the session.
        await call.write(_reregister(agent_id, 2))
        await call.write(apb.AgentMessage(heartbeat=apb.HeartbeatRequest(agent_id=agent_id)))
        await expect_refusal(
            call,
            grpc.StatusCode.FAILED_PRECONDITION,
            "stands by",
            "resume once this master leads, not heartbeat",
        )
        await channel.close()
        await _await_async(lambda: _metrics(standby)["mesospy_master_standby_sessions"] == 0)

        # Another agent's re-registration on the same session is refused.
        call, channel = await open_session(
            _address(standby), _reregister(agent_id, 0), _reregister("other-agent", 0)
        )
        assert (await call.read()).WhichOneof("body") == "standing_by"
        await expect_refusal(
            call, grpc.StatusCode.INVALID_ARGUMENT, "belongs to agent", "other-agent"
        )
        await channel.close()

        # A bad re-registration is refused as the leader would refuse it.
        bad = _reregister(agent_id, 1)
        bad.reregister.tasks[0].task_id = ""
        call, channel = await open_session(_address(standby), bad)
        await expect_refusal(call, grpc.StatusCode.INVALID_ARGUMENT, "reported task", "task_id")
        await channel.close()

        # Nothing kept: nothing to resume.
        call, channel = await open_session(
            _address(standby), apb.AgentMessage(resume=apb.ResumeSession(agent_id=agent_id))
        )
        await expect_refusal(
            call, grpc.StatusCode.FAILED_PRECONDITION, "nothing to resume", "re-register"
        )
        await channel.close()

        # Without ``standby``, a re-registration is the leader's alone (an agent that
        # does not follow ZooKeeper is sent there at once).
        plain = _reregister(agent_id, 1)
        plain.standby = False
        call, channel = await open_session(_address(standby), plain)
        await expect_refusal(call, grpc.StatusCode.UNAVAILABLE, f"leader=127.0.0.1:{leader.port}")
        await channel.close()

        # A leader keeps a standby session too (the agent's view of ZooKeeper may lag)
        # and takes the agent over on resume.
        call, channel = await open_session(_address(leader), _reregister(agent_id, 1))
        assert (await call.read()).WhichOneof("body") == "standing_by"
        await call.write(apb.AgentMessage(resume=apb.ResumeSession(agent_id=agent_id)))
        await _await_async(lambda: _metrics(leader)["mesospy_master_agents_resumed_total"] == 1)
        await channel.close()

        # A new agent registers with the leader only.
        call, channel = await open_session(
            _address(standby),
            apb.AgentMessage(register=apb.RegisterAgentRequest(agent_info=_info())),
        )
        await expect_refusal(call, grpc.StatusCode.UNAVAILABLE, f"leader=127.0.0.1:{leader.port}")
        await channel.close()
        await leader_channel.close()

    asyncio.run(scenario())
    assert _metrics(standby)["mesospy_master_agents_resumed_total"] == 0


def test_the_new_leader_takes_a_standby_session_over_on_resume(masters: LocalCluster) -> None:
    leader, standby = _standby_of(masters)

    async def scenario() -> None:
        agent_id, _, leader_channel = await _registered_id(leader)
        call, channel = await open_session(_address(standby), _reregister(agent_id, 1))
        assert (await call.read()).WhichOneof("body") == "standing_by"
        # What the agent reports changed: the newest re-registration is what counts.
        await call.write(_reregister(agent_id, 3, finished=1))
        await _await_async(lambda: _metrics(standby)["mesospy_master_standby_sessions"] == 1)
        # The standby also reads the registry ahead once it holds still (the agent's
        # admission was its last change), so that it need not once elected.
        await _await_async(lambda: "read the registry ahead" in standby.log.read_text())

        leader.signal(signal.SIGKILL)
        await leader_channel.close()
        # Sent as soon as the agent would see ZooKeeper name the standby (the master may
        # not know it leads yet: it waits for its leadership before answering).
        await call.write(apb.AgentMessage(resume=apb.ResumeSession(agent_id=agent_id)))
        await _await_async(lambda: _metrics(standby)["mesospy_master_agents_resumed_total"] == 1)
        metrics = _metrics(standby)
        assert metrics["mesospy_master_elected"] == 1
        assert metrics['mesospy_master_agents{state="active"}'] == 1
        assert metrics['mesospy_master_tasks{state="TASK_RUNNING"}'] == 3
        assert metrics["mesospy_master_standby_sessions"] == 0
        # The finished task's resources are not in use (its update, resent until
        # acknowledged, must not free them a second time).
        assert _used_cpus(standby) == 3
        assert "registry unchanged since it was read ahead" in standby.log.read_text()

        # The session goes on as the agent's: a task's end is taken, and a reregister
        # now is refused as on any registered session.
        status = pb.TaskStatus(
            task_id="t0", agent_id=agent_id, state=pb.TASK_FINISHED, uuid=b"u" * 16
        )
        update = apb.StatusUpdate(
            framework_id=FRAMEWORK.id, status=status, latest_state=pb.TASK_FINISHED
        )
        await call.write(
            apb.AgentMessage(updates=apb.StatusUpdates(agent_id=agent_id, updates=[update]))
        )
        await _await_async(
            lambda: _metrics(standby)['mesospy_master_tasks{state="TASK_RUNNING"}'] == 2
        )
        assert _used_cpus(standby) == 2
        await call.write(_reregister(agent_id, 3))
        await expect_refusal(
            call, grpc.StatusCode.INVALID_ARGUMENT, "after registering, not reregister"
        )
        await channel.close()

    asyncio.run(scenario())
