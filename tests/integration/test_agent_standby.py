"""``StandbySessions`` (mesospy.agent.standby) against stand-in masters on loopback gRPC and
a scripted detector: which masters get a session, what goes on each, and each way a
session is taken over. The same against real masters and ZooKeeper:
test_standby_sessions.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from test_agent_harness import wait_for

from mesospy.agent.standby import REFRESH_SECONDS, StandbySessions
from mesospy.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from mesospy.wakeup import Revision

AGENT_ID = "agent-7"


class StandInMaster(agent_pb2_grpc.AgentRegistryServicer):
    """Answers as a standby master does (or as the leader, with ``leads``)."""

    def __init__(self, leads: bool = False) -> None:
        self.leads = leads
        self.received: list[agent_pb2.AgentMessage] = []
        self.opened = 0
        self.ended = 0
        self.port = 0
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def info(self) -> common_pb2.MasterInfo:
        return common_pb2.MasterInfo(
            id=f"master-{self.port}",
            ip="127.0.0.1",
            port=self.port,
            address=common_pb2.Address(ip="127.0.0.1", port=self.port),
        )

    def bodies(self) -> list[str | None]:
        return [m.WhichOneof("body") for m in self.received]

    async def start(self) -> StandInMaster:
        self._server = grpc.aio.server()
        agent_pb2_grpc.add_AgentRegistryServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)

    async def Connect(self, requests: AsyncIterator[Any], context: Any) -> None:
        self.opened += 1
        answered = False
        try:
            async for message in requests:
                self.received.append(message)
                if message.WhichOneof("body") != "reregister" or answered:
                    continue  # resume, and a standby session's later re-registrations
                if not message.standby:
                    if not self.leads:
                        await context.abort(grpc.StatusCode.UNAVAILABLE, "not the leader")
                    response = agent_pb2.RegisterAgentResponse(
                        agent_id=AGENT_ID, master_info=self.info(), heartbeat_interval_seconds=2
                    )
                    await context.write(agent_pb2.MasterMessage(registered=response))
                else:  # kept until resume, leading or not
                    standing = agent_pb2.StandingBy(
                        master_info=self.info(), heartbeat_interval_seconds=3
                    )
                    await context.write(agent_pb2.MasterMessage(standing_by=standing))
                answered = True
        finally:
            self.ended += 1


class ScriptedDetector:
    """What ``StandbySessions`` asks of a ZooKeeper ``MasterDetector``, set by the test."""

    uses_zookeeper = True

    def __init__(self) -> None:
        self._contenders: list[common_pb2.MasterInfo] = []
        self._changed = asyncio.Event()

    def elect(self, *masters: StandInMaster) -> None:
        """These masters contend, the first leading."""
        self._contenders = [m.info() for m in masters]
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_contenders(
        self, previous: list[common_pb2.MasterInfo]
    ) -> list[common_pb2.MasterInfo]:
        while self._contenders == previous:
            await self._changed.wait()
        return list(self._contenders)

    async def leader_info(self) -> common_pb2.MasterInfo | None:
        return self._contenders[0] if self._contenders else None


class Agent:
    """What the agent reports: one task per change, so each message says which it is."""

    def __init__(self) -> None:
        self.revision = Revision()

    def registration(self) -> agent_pb2.AgentMessage:
        tasks = [common_pb2.Task(task_id=f"t{n}") for n in range(self.revision.value)]
        info = common_pb2.AgentInfo(id=AGENT_ID)
        return agent_pb2.AgentMessage(
            reregister=agent_pb2.ReregisterAgentRequest(agent_info=info, tasks=tasks)
        )


def _standing(sessions: StandbySessions) -> tuple[int, int]:
    """(current, behind)"""
    counts = sessions.counts()
    return counts["current"], counts["behind"]


@contextlib.asynccontextmanager
async def standby_sessions(
    *masters: StandInMaster,
) -> AsyncIterator[tuple[StandbySessions, ScriptedDetector, Agent]]:
    for master in masters:
        await master.start()
    detector, agent = ScriptedDetector(), Agent()
    sessions = StandbySessions(
        detector,  # type: ignore[arg-type]
        registration=agent.registration,
        revision=agent.revision,
        agent_id=lambda: AGENT_ID,
        channel=lambda address: grpc.aio.insecure_channel(address),
        timeout=5.0,
    )
    keeper = asyncio.ensure_future(sessions.run())
    try:
        yield sessions, detector, agent
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        for master in masters:
            await master.stop()


def test_a_session_with_each_contender_but_the_leader_kept_current_coalesced() -> None:
    async def scenario() -> None:
        leader, other = StandInMaster(leads=True), StandInMaster()
        async with standby_sessions(leader, other) as (sessions, detector, agent):
            detector.elect(leader, other)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            assert (leader.opened, other.bodies()) == (0, ["reregister"])
            for _ in range(5):  # a burst of changes: one fresh re-registration
                agent.revision.bump()
            assert _standing(sessions) == (0, 1)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="current again")
            await wait_for(lambda: len(other.received) == 2, what="the fresh one received")
            assert other.bodies() == ["reregister", "reregister"]
            assert len(other.received[-1].reregister.tasks) == 5
            assert sessions.refreshes == 1
            await asyncio.sleep(REFRESH_SECONDS * 2)  # nothing changed: nothing sent
            assert len(other.received) == 2

    asyncio.run(scenario())


def test_taken_over_with_resume_when_nothing_changed() -> None:
    async def scenario() -> None:
        leader, other = StandInMaster(leads=True), StandInMaster()
        async with standby_sessions(leader, other) as (sessions, detector, _):
            detector.elect(leader, other)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            await leader.stop()
            detector.elect(other)
            handover = await sessions.take_over(other.address)
            assert handover is not None and handover.resumed
            assert handover.response.heartbeat_interval_seconds == 3
            assert handover.response.master_info.port == other.port
            await wait_for(lambda: len(other.received) == 2, what="resume")
            assert other.received[1].resume.agent_id == AGENT_ID
            assert (other.opened, other.ended, sessions.resumed) == (1, 0, 1)
            # The session goes on as the agent's: its heartbeats reach the master.
            heartbeat = agent_pb2.HeartbeatRequest(agent_id=AGENT_ID)
            await handover.session.send(agent_pb2.AgentMessage(heartbeat=heartbeat))
            await wait_for(lambda: len(other.received) == 3, what="heartbeat")
            handover.session.close()

    asyncio.run(scenario())


def test_taken_over_with_a_fresh_reregistration_when_something_changed() -> None:
    async def scenario() -> None:
        leader, other = StandInMaster(leads=True), StandInMaster()
        async with standby_sessions(leader, other) as (sessions, detector, agent):
            detector.elect(leader, other)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            agent.revision.bump()  # within the refresh pause: not sent yet
            other.leads = True
            handover = await sessions.take_over(other.address)
            # The fresh re-registration goes first, then resume, neither answered.
            assert handover is not None and handover.resumed
            assert handover.response.heartbeat_interval_seconds == 3
            await wait_for(
                lambda: other.bodies() == ["reregister", "reregister", "resume"],
                what="a re-registration, then resume",
            )
            assert len(other.received[1].reregister.tasks) == 1
            assert (other.opened, sessions.resumed) == (1, 1)
            handover.session.close()

    asyncio.run(scenario())


def test_a_contender_that_leads_already_stands_by_until_zookeeper_says_so() -> None:
    async def scenario() -> None:
        stale, actual = StandInMaster(leads=True), StandInMaster(leads=True)
        async with standby_sessions(stale, actual) as (sessions, detector, _):
            detector.elect(stale, actual)  # ZooKeeper has not told us yet
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            assert actual.received[0].standby
            handover = await sessions.take_over(actual.address)
            assert handover is not None and handover.resumed
            await wait_for(lambda: actual.bodies() == ["reregister", "resume"], what="resume")
            handover.session.close()

    asyncio.run(scenario())


def test_the_master_in_use_gets_no_standby_session() -> None:
    async def scenario() -> None:
        leader, other, third = StandInMaster(leads=True), StandInMaster(), StandInMaster()
        async with standby_sessions(leader, other, third) as (sessions, detector, _):
            detector.elect(leader, other)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            handover = await sessions.take_over(other.address)  # ZooKeeper named it
            assert handover is not None
            # A view of ZooKeeper that still names the old leader must not give the
            # master the agent now uses a second (standby) session.
            detector.elect(leader, other, third)
            await wait_for(lambda: third.opened == 1, what="third's standby session")
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            assert other.opened == 1
            handover.session.close()

    asyncio.run(scenario())


def test_the_master_left_by_the_registration_loop_gets_a_standby_session_again() -> None:
    async def scenario() -> None:
        leader, other = StandInMaster(leads=True), StandInMaster()
        async with (
            standby_sessions(leader, other) as (sessions, detector, _),
            grpc.aio.insecure_channel(leader.address) as channel,
        ):
            detector.elect(leader, other)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            handover = await sessions.take_over(other.address)  # a stale view named it
            assert handover is not None
            handover.session.close()
            # The loop goes back to the leader, with no change among the contenders:
            # the master it left stands by again all the same.
            stub = agent_pb2_grpc.AgentRegistryStub(channel)  # type: ignore[no-untyped-call]
            (await sessions.connect(stub, leader.address)).session.close()
            await wait_for(lambda: other.opened == 2, what="a new standby session")
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by again")

    asyncio.run(scenario())


def test_sessions_follow_the_contenders() -> None:
    async def scenario() -> None:
        leader, a, b = StandInMaster(leads=True), StandInMaster(), StandInMaster()
        async with standby_sessions(leader, a, b) as (sessions, detector, _):
            detector.elect(leader, a)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by with a")
            detector.elect(leader, b)  # a left, b joined
            await wait_for(lambda: a.ended == 1, what="a's session closed")
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by with b")
            assert (a.opened, b.opened, leader.opened) == (1, 1, 0)
            assert await sessions.take_over(a.address) is None
            assert await sessions.take_over(leader.address) is None

    asyncio.run(scenario())


def test_a_lost_standby_session_is_not_taken_over() -> None:
    async def scenario() -> None:
        leader, other = StandInMaster(leads=True), StandInMaster()
        async with standby_sessions(leader, other) as (sessions, detector, _):
            detector.elect(leader, other)
            await wait_for(lambda: _standing(sessions) == (1, 0), what="standing by")
            await other.stop()
            await wait_for(lambda: _standing(sessions) == (0, 0), what="the session lost")
            assert await sessions.take_over(other.address) is None

    asyncio.run(scenario())


def test_a_fresh_session_is_a_plain_registration() -> None:
    # Not a standby session: the leader answers it, a master that does not lead refuses.
    async def scenario() -> None:
        leader, other = StandInMaster(leads=True), StandInMaster()
        async with (
            standby_sessions(leader, other) as (sessions, _, _),
            grpc.aio.insecure_channel(leader.address) as to_leader,
            grpc.aio.insecure_channel(other.address) as to_other,
        ):
            stub = agent_pb2_grpc.AgentRegistryStub(to_leader)  # type: ignore[no-untyped-call]
            handover = await sessions.connect(stub, leader.address)
            assert not handover.resumed and handover.response.heartbeat_interval_seconds == 2
            assert leader.bodies() == ["reregister"] and not leader.received[0].standby
            handover.session.close()
            stub = agent_pb2_grpc.AgentRegistryStub(to_other)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await sessions.connect(stub, other.address)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    asyncio.run(scenario())


def test_none_without_zookeeper() -> None:
    async def scenario() -> None:
        master = await StandInMaster().start()
        detector, agent = ScriptedDetector(), Agent()
        detector.uses_zookeeper = False
        detector.elect(StandInMaster(), master)
        sessions = StandbySessions(
            detector,  # type: ignore[arg-type]
            registration=agent.registration,
            revision=agent.revision,
            agent_id=lambda: AGENT_ID,
            channel=lambda address: grpc.aio.insecure_channel(address),
            timeout=5.0,
        )
        await asyncio.wait_for(sessions.run(), 5)  # returns at once
        assert master.opened == 0
        await master.stop()

    asyncio.run(scenario())
