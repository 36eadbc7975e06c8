"""The master's side of an agent's session (``AgentRegistry.Connect``), driven by a bare
gRPC client against a real master: what it answers to bad input, and what a session's end
means for offers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from mesospy.cluster import LocalCluster
from mesospy.resources import Resources
from mesospy.testing.agent_session import expect_refusal, open_session
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb

UUID = b"u" * 16


def _register(port: int) -> apb.AgentMessage:
    info = pb.AgentInfo(
        hostname="127.0.0.1", port=port, resources=Resources.parse("cpus:1;mem:128").to_proto()
    )
    return apb.AgentMessage(register=apb.RegisterAgentRequest(agent_info=info))


def test_bad_session_input_gets_a_status_that_says_what_to_do(tmp_path: Path) -> None:
    with LocalCluster(agents=0, work_dir=tmp_path) as cluster:

        async def scenario() -> None:
            # A session starts with a registration.
            call, channel = await open_session(
                cluster.master_address,
                apb.AgentMessage(heartbeat=apb.HeartbeatRequest(agent_id="a1")),
            )
            await expect_refusal(
                call,
                grpc.StatusCode.INVALID_ARGUMENT,
                "starts with register or reregister, not heartbeat",
            )
            await channel.close()

            # Registered: the answer names the agent; a second registration is refused.
            call, channel = await open_session(cluster.master_address, _register(40001))
            answer = await call.read()
            assert answer.WhichOneof("body") == "registered"
            agent_id = answer.registered.agent_id
            assert agent_id and answer.registered.heartbeat_interval_seconds > 0
            await call.write(_register(40001))
            await expect_refusal(
                call,
                grpc.StatusCode.INVALID_ARGUMENT,
                "takes heartbeat or updates after registering, not register",
            )
            await channel.close()

        asyncio.run(scenario())


def test_a_bad_update_is_left_out_and_the_session_goes_on(tmp_path: Path) -> None:
    # Ending the session over one bad update would bring the agent back with it again and
    # again; the master leaves it out, takes the rest, and the session goes on.
    with LocalCluster(agents=0, work_dir=tmp_path) as cluster:

        async def scenario() -> None:
            call, channel = await open_session(cluster.master_address, _register(40002))
            agent_id = (await call.read()).registered.agent_id
            cluster.wait_for(lambda s: [a.active for a in s.agents] == [True], 10, "active")
            bad = apb.StatusUpdate(
                framework_id="fw", status=pb.TaskStatus(task_id="t", state=999, uuid=UUID)
            )
            no_uuid = apb.StatusUpdate(
                framework_id="fw", status=pb.TaskStatus(task_id="t", state=pb.TASK_RUNNING)
            )
            updates = apb.StatusUpdates(agent_id=agent_id, updates=[bad, no_uuid])
            await call.write(apb.AgentMessage(updates=updates))
            # Still open: the next message is judged, and names the session's owner.
            await call.write(apb.AgentMessage(heartbeat=apb.HeartbeatRequest(agent_id="other")))
            await expect_refusal(
                call,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"this session belongs to agent {agent_id!r}, not 'other'",
            )
            await channel.close()
            # Its session over, the agent is no longer offered (not active) at once.
            cluster.wait_for(lambda s: [a.active for a in s.agents] == [False], 10, "inactive")

        asyncio.run(scenario())
