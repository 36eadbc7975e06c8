"""Standby sessions: the agent's sessions with the masters that contend without leading.

With ZooKeeper, an agent that has an id keeps, besides its session with the leader, one
session with every other contending master (see ``AgentRegistry.Connect`` in agent.proto).
It opens each with the re-registration it would send the leader, marked ``standby``; the
master keeps it and answers ``standing_by`` (even if it leads already: the agent's view of
ZooKeeper may lag, and a session is only taken over once ZooKeeper names its master).
Whenever what the agent would report changes (its tasks' ``Revision``), a fresh
re-registration follows, at most one per ``REFRESH_SECONDS`` per session; each session
remembers the revision its last one reported.

When ZooKeeper names one of these masters leader, the registration loop takes its session
over (``take_over``) with ``resume``, sent after a fresh re-registration if the last one
sent on it is no longer current; neither is answered. Either way the new leader has the
agent without a stream opened or a re-registration answered after the failover. Sessions
with masters that leave the contenders are closed; a master that joins them gets one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import grpc

from mesospy.agent.master_session import MasterSession, SessionClosed
from mesospy.detector import MasterDetector
from mesospy.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from mesospy.wakeup import Revision, wait_event
from mesospy.zk.master_info import master_address

log = logging.getLogger(__name__)

# At most one fresh re-registration per session this often: a burst of task changes (a
# framework launching tens of tasks) costs the standby master one message, not tens, and a
# standby's work (it checks and prepares each one as the leader would) stays a fraction of
# the leader's even under heavy churn. An agent that changed since its last one sends a
# fresh one before ``resume`` at a failover, so a longer pause costs nothing in correctness.
REFRESH_SECONDS = 2.0
# A session a master refused or lost is opened again after a jittered backoff of up to
# this long: a master that cannot stand by (e.g. an older one) must not take a stream from
# every agent every few seconds.
REOPEN_BACKOFF_MAX = 30.0


class Handover(NamedTuple):
    """A standby session taken over as the agent's session with its (now leading) master."""

    session: MasterSession
    response: agent_pb2.RegisterAgentResponse  # as if the master had answered `registered`
    resumed: bool  # taken over with `resume` (else: a fresh session, answered `registered`)


@dataclass(eq=False)
class _Standby:
    """One contending master's standby session, opened again while it is wanted."""

    address: str
    session: MasterSession | None = None
    standing_by: agent_pb2.StandingBy | None = None  # its answer, while it stands by
    sent: int = -1  # the revision its last re-registration reported
    sent_at: float = 0.0  # when that was sent (loop time)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # wanted by take_over
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # try again now, not later
    keeper: asyncio.Task[None] | None = None

    def forget_session(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = self.standing_by = None


class StandbySessions:
    """The agent's standby sessions (none without ZooKeeper: ``run`` returns at once).

    ``registration()`` is the message the agent would (re-)register with now (it
    re-registers once it has an id, and only then are there standby sessions);
    ``revision`` counts the changes to what it reports; ``channel(address)`` opens a
    channel to a master.
    """

    def __init__(
        self,
        detector: MasterDetector,
        *,
        registration: Callable[[], agent_pb2.AgentMessage],
        revision: Revision,
        agent_id: Callable[[], str],
        channel: Callable[[str], grpc.aio.Channel],
        timeout: float,
    ) -> None:
        self._detector = detector
        self._registration = registration
        self._revision = revision
        self._agent_id = agent_id
        self._open_channel = channel
        self._timeout = timeout
        self._standbys: dict[str, _Standby] = {}
        self._in_use: str | None = None  # the master the registration loop last went to
        self._moved = asyncio.Event()  # _in_use changed: the sessions are settled again
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.refreshes = 0  # fresh re-registrations sent on standing sessions (a metric)
        self.resumed = 0  # sessions taken over with `resume` (a metric)

    def counts(self) -> dict[str, int]:
        """The sessions standing by (read from the metrics thread too), ``current`` or
        ``behind`` what the agent would report now."""
        revision = self._revision.value
        counts = dict.fromkeys(("current", "behind"), 0)
        for standby in list(self._standbys.values()):
            if standby.standing_by is not None:
                counts["current" if standby.sent == revision else "behind"] += 1
        return counts

    # ------------------------------------------------------------------ the contenders

    async def run(self) -> None:
        """Keep a standby session with each contending master but the leader (and the
        master the agent has its session with), following ZooKeeper, until cancelled
        (then close them all)."""
        if not self._detector.uses_zookeeper:
            return
        contenders: list[common_pb2.MasterInfo] = []
        try:
            while True:
                changed = asyncio.ensure_future(self._detector.wait_contenders(contenders))
                moved = asyncio.ensure_future(self._moved.wait())
                try:
                    await asyncio.wait({changed, moved}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                    moved.cancel()
                if changed.done() and not changed.cancelled():
                    contenders = changed.result()
                self._moved.clear()
                if not contenders:  # ZooKeeper's view was lost: keep what we have
                    continue
                try:
                    await self._follow(contenders, await self._detector.leader_info())
                except Exception:  # the sessions must outlive any one bad pass
                    log.exception("following the contending masters failed")
        finally:
            await self.close()

    async def _follow(
        self, contenders: list[common_pb2.MasterInfo], leader: common_pb2.MasterInfo | None
    ) -> None:
        """Settle which sessions to keep first, with no pause in between (the registration
        loop may take one over at any pause), then close what is no longer wanted."""
        present = {master_address(info) for info in contenders}
        leading = master_address(leader) if leader is not None else None
        wanted = present - {leading, self._in_use}
        # The new leader's standby session (if any) is left for take_over.
        dropped = [self._standbys.pop(a) for a in list(self._standbys) if a not in present]
        for standby in dropped:  # before any pause: none may open a channel again
            if standby.keeper is not None:
                standby.keeper.cancel()
        for address in sorted(wanted):
            if address in self._standbys:
                if self._standbys[address].session is None:  # e.g. restarted: try now
                    self._standbys[address].wake.set()
            else:
                fresh = self._standbys[address] = _Standby(address)
                fresh.keeper = asyncio.ensure_future(self._keep(fresh))
        gone = [self._channels.pop(a) for a in list(self._channels) if a not in present]
        for standby in dropped:
            await self._discard(standby)
        for channel in gone:
            await channel.close(None)

    async def close(self) -> None:
        """Close every session and channel."""
        standbys, self._standbys = list(self._standbys.values()), {}
        for standby in standbys:
            await self._discard(standby)
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close(None)

    async def _discard(self, standby: _Standby) -> None:
        if standby.keeper is not None:
            standby.keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await standby.keeper
        standby.forget_session()

    # ------------------------------------------------------------------ one session

    async def _keep(self, standby: _Standby) -> None:
        """Open ``standby``'s session and keep it current; open it again when it is lost,
        until take_over asks for it."""
        attempt = 0
        while not standby.release.is_set():
            if attempt:
                cap = min(REOPEN_BACKOFF_MAX, 2.0 ** min(attempt, 16))
                await wait_event(standby.wake, random.uniform(0, cap))
            attempt += 1
            standby.wake.clear()
            if not await self._open(standby):
                continue
            attempt = 1  # once it stood by, a loss is tried again soon
            await self._stand_by(standby)

    async def _open(self, standby: _Standby) -> bool:
        address = standby.address
        if address not in self._channels:
            self._channels[address] = self._open_channel(address)
        stub = agent_pb2_grpc.AgentRegistryStub(self._channels[address])  # type: ignore[no-untyped-call]
        revision = self._revision.value
        try:
            session, answer = await MasterSession.open(stub, self._standby_message(), self._timeout)
        except grpc.aio.AioRpcError as exc:
            log.info(
                "standby session with %s refused (%s): %s", address, exc.code().name, exc.details()
            )
            return False
        except (SessionClosed, TimeoutError) as exc:
            log.info("standby session with %s failed: %s", address, exc or "no answer in time")
            return False
        body = answer.WhichOneof("body")
        if body != "standing_by":
            session.close()
            log.warning("master %s answered a standby session with %s", address, body)
            return False
        standby.standing_by = answer.standing_by
        standby.session = session
        standby.sent, standby.sent_at = revision, asyncio.get_running_loop().time()
        return True

    async def _stand_by(self, standby: _Standby) -> None:
        """Send a fresh re-registration whenever the revision moves past the one last sent
        (coalesced), until the session ends (then it is forgotten) or take_over asks for it
        (then it is left as it is)."""
        session = standby.session
        assert session is not None
        loop = asyncio.get_running_loop()
        reading = asyncio.ensure_future(session.receive())
        released = asyncio.ensure_future(standby.release.wait())
        lost: str | None = None
        try:
            while not (reading.done() or released.done()):
                changed = asyncio.ensure_future(self._revision.wait_past(standby.sent))
                try:
                    await asyncio.wait(
                        {reading, released, changed}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    changed.cancel()
                if reading.done() or released.done():
                    break
                pause = standby.sent_at + REFRESH_SECONDS - loop.time()
                if pause > 0:
                    await asyncio.wait({reading, released}, timeout=pause)
                    continue
                revision = self._revision.value
                await session.send(self._standby_message())
                standby.sent, standby.sent_at = revision, loop.time()
                self.refreshes += 1
        except Exception as exc:
            lost = f"a write failed: {exc!r}"
        finally:
            reading.cancel()  # the read itself goes on (see MasterSession.receive)
            released.cancel()
        if reading.done():  # it ended before the cancellation above
            lost = _ending(reading)
        if lost is not None:
            log.info("standby session with %s lost: %s", standby.address, lost)
            standby.forget_session()

    # ------------------------------------------------------------------ the hand-over

    async def take_over(self, leader: str) -> Handover | None:
        """Make the standby session with ``leader`` (now named leader by ZooKeeper) the
        agent's session with it: ``resume``, after a fresh re-registration if something
        changed since its last one (see ``_hand_over``). None when there is no such session
        or it failed: the caller then opens a fresh session (``connect``)."""
        self._use(leader)
        standby = self._standbys.pop(leader, None)
        if standby is None:
            return None
        released = await self._release(standby)
        if released is None:
            return None
        session, standing_by = released
        try:
            return await self._hand_over(session, standing_by, standby.sent, leader)
        except Exception as exc:
            log.info("taking over the standby session with %s failed (%s)", leader, _why(exc))
            return None

    async def connect(self, stub: agent_pb2_grpc.AgentRegistryStub, leader: str) -> Handover:
        """A fresh session with ``leader``: (re-)register on it, answered ``registered``.
        Raises as ``MasterSession.open`` (and ``SessionClosed`` for another answer)."""
        self._use(leader)
        session, answer = await MasterSession.open(stub, self._registration(), self._timeout)
        body = answer.WhichOneof("body")
        if body == "registered":
            return Handover(session, answer.registered, resumed=False)
        session.close()
        raise SessionClosed(f"the master answered a registration with {body}")

    def _use(self, leader: str) -> None:
        """The registration loop goes to ``leader`` now: no standby session with it, and
        one again with the master it left (if that still contends)."""
        if leader != self._in_use:
            self._in_use = leader
            self._moved.set()

    def _standby_message(self) -> agent_pb2.AgentMessage:
        message = self._registration()
        message.standby = True
        return message

    async def _hand_over(
        self,
        session: MasterSession,
        standing_by: agent_pb2.StandingBy,
        sent: int,
        leader: str,
    ) -> Handover:
        """Hand the session over: ``resume``, after a fresh re-registration if the revision
        is no longer ``sent`` (what its last re-registration reported). Neither is answered:
        the master keeps a standby session's re-registrations until ``resume``, which it
        may get before it knows that it leads. The session is closed if this raises."""
        try:
            changed = sent != self._revision.value
            if changed:
                await session.send(self._standby_message())
            resume = agent_pb2.ResumeSession(agent_id=self._agent_id())
            await session.send(agent_pb2.AgentMessage(resume=resume))
            self.resumed += 1
            log.info(
                "resumed the standby session with the new leader %s%s",
                leader,
                " (re-registered first: what it runs changed)" if changed else "",
            )
            response = agent_pb2.RegisterAgentResponse(
                agent_id=self._agent_id(),
                master_info=standing_by.master_info,
                heartbeat_interval_seconds=standing_by.heartbeat_interval_seconds,
            )
            return Handover(session, response, resumed=True)
        except BaseException:
            session.close()
            raise

    async def _release(
        self, standby: _Standby
    ) -> tuple[MasterSession, agent_pb2.StandingBy] | None:
        """Stop keeping a standing session (between two writes); it and the master's
        answer, or None (the session is closed) if it is not standing by."""
        keeper = standby.keeper
        if standby.standing_by is not None and keeper is not None:
            standby.release.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(keeper), self._timeout)
            session, standing_by = standby.session, standby.standing_by
            if keeper.done() and session is not None and standing_by is not None:
                return session, standing_by
        # Still opening (or about to): not worth waiting for; the caller opens one.
        await self._discard(standby)
        return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or repr(exc)


def _ending(reading: asyncio.Future[agent_pb2.MasterMessage]) -> str:
    """Why a standby session's read ended: the master sends nothing on one."""
    if reading.cancelled():
        return "cancelled"
    exc = reading.exception()
    if exc is not None:
        return _why(exc)
    return f"the master sent {reading.result().WhichOneof('body')} on it"
