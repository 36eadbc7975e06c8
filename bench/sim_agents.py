"""Many simulated agents in one process, speaking the real agent protocol to a real master.

Each simulated agent has its own identity (``AgentInfo``: id, resources) and its own
address ``127.0.0.1:PORT``: the master knows an agent by the address it gives (a second
registration from one address means "that agent restarted"), so every simulated agent
listens on a port of its own. Each agent keeps one ``Connect`` stream with the leading
master, as the real agent does: registration, heartbeats and status updates go up;
acknowledgements and the master's commands (RunTasks, KillTask, ShutdownFramework) come
down. All agents' streams share this process's one channel to the master: thousands of
streams multiplexed over one HTTP/2 connection. The ports belong to ONE gRPC server in this
process, whose ``Agent`` service takes the same commands as calls (the master calls an
agent only while it has no stream) and finds the agent a call is meant for from the call
itself (RunTasks names the agent in ``TaskInfo.agent_id``; KillTask and AcknowledgeUpdates
name a task this process placed on one agent).

Behaviour, as a real agent:
- opens its stream and registers on it (or re-registers with every task it holds, and the
  frameworks of those tasks), then heartbeats on it at the interval the master gives, each
  agent at its own phase;
- a heartbeat answered ``reregister=True``, or the end of its stream (any error: the master
  does not know the agent, is no longer the leader, went away), re-registers that agent on
  a new stream; a new leader in ZooKeeper re-registers all of them, at once, with the new
  leader (a real agent's detector does the same), save those with a standby stream with it
  (below), which take that over;
- a task "runs" for the seconds its command names (``sleep 12.5``; else ``--task-seconds``):
  TASK_RUNNING at once, then TASK_FINISHED; KillTask ends it TASK_KILLED;
- status updates of one task go one at a time, the next after the master forwarded the
  framework's acknowledgement of the previous one; unacknowledged ones are resent
  (10 s, doubling, as the agent); updates of one agent due together travel in one
  ``updates`` message;
- RunTasks asking for more than the agent has free counts as an overbooking (a wrong
  result: an offer was double-booked);
- standby sessions (with ZooKeeper; ``--no-standby`` turns them off): once registered with
  the leader, an agent keeps one more ``Connect`` stream with each contending master that
  does not lead, opened with the ``reregister`` it would send the leader (answered
  ``standing_by``) and given a fresh one whenever what it would report changes (at most one
  send per ``--standby-refresh`` seconds per stream). When ZooKeeper names one of those
  masters leader, the agent sends ``resume`` on that stream (after a fresh ``reregister`` if
  the last one it sent there is out of date; neither is answered) and goes on with it as its
  session with the leader: no new stream, no re-registration answered after a failover.
  Opening them is throttled (``--max-standby-in-flight``) and waits while registrations
  with the leader are going on.

Not simulated: files (ReadFile/ListFiles answer NOT_FOUND), health checks, executors.
ShutdownFramework ends the framework's tasks on every agent of this process (the call does
not say which agent it was sent to; the master sends it to each agent that has them).

Run by ``scale.py`` and ``failover.py``; by hand:

    python bench/sim_agents.py --master 127.0.0.1:5050 --agents 1000

Every second it prints one JSON line of counters on stdout (see ``Sim.stats``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import resource
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from mesospy.agent.agent import leader_hint
from mesospy.detector import MasterDetector
from mesospy.resources import Resources
from mesospy.task_states import TERMINAL_STATES
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import agent_pb2_grpc as apb_grpc
from mesospy.v1 import common_pb2 as pb
from mesospy.zk.master_info import master_address

log = logging.getLogger("sim_agents")
Context = grpc.aio.ServicerContext[Any, Any]
Stream = grpc.aio.StreamStreamCall[apb.AgentMessage, apb.MasterMessage]
RPC_TIMEOUT = 30.0
RETRY_MIN, RETRY_MAX = 10.0, 60.0  # the agent's defaults
RETRY_ROUND_MIN, RETRY_ROUND_MAX = 0.12, 1.0  # between rounds of failed registrations
FLUSH_INTERVAL = 0.02  # status updates are gathered this long into per-agent batches
STANDBY_SCAN = 1.0  # how often the contenders are looked at and missing standby streams opened
STANDBY_RETRY_MIN, STANDBY_RETRY_MAX = 1.0, 60.0  # a standby stream that failed: retried after


@dataclass(eq=False)
class SimTask:
    framework_id: str
    info: pb.TaskInfo
    agent: SimAgent
    cpus: float
    mem: float
    state: int = pb.TASK_STAGING
    latest: pb.TaskStatus | None = None
    # Updates not yet acknowledged, oldest first; the head is the one on the wire.
    queue: list[pb.TaskStatus] = field(default_factory=list)
    next_send: float = 0.0  # monotonic time the head is (re)sent; 0: not yet sent
    backoff: float = RETRY_MIN
    timer: asyncio.TimerHandle | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework_id, self.info.task_id)


@dataclass(eq=False)
class Standby:
    """An agent's standby session with a master that contends without leading."""

    address: str
    call: Stream | None = None
    # One write at a time (as the agent's stream); taken over with the stream.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ready: bool = False  # the master answered standing_by
    # The agent's version its last reregister on this stream reported: the stream is
    # "dirty" when it differs from SimAgent.version.
    sent_version: int = -1


@dataclass(eq=False)
class SimAgent:
    index: int
    port: int
    cpus: float
    mem: float
    resources: list[pb.Resource]
    agent_id: str = ""
    registered: bool = False
    registering: bool = False
    used_cpus: float = 0.0
    used_mem: float = 0.0
    tasks: dict[tuple[str, str], SimTask] = field(default_factory=dict)
    # The agent's stream to the master (None: not registered); one write at a time on it
    # (grpc.aio allows one outstanding write per call): writers hold write_lock, a new one
    # with every stream. reader: the task reading the stream.
    call: Stream | None = None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reader: asyncio.Task[None] | None = None
    call_master: str = ""  # the address of the master at the other end of ``call``
    # Bumped whenever what the agent would report in a ReregisterAgentRequest changes.
    version: int = 0
    # Standby sessions by master address, and when a failed one may be tried again
    # (monotonic time, next backoff).
    standby: dict[str, Standby] = field(default_factory=dict)
    standby_retry: dict[str, tuple[float, float]] = field(default_factory=dict)

    def info(self) -> pb.AgentInfo:
        return pb.AgentInfo(
            id=self.agent_id,
            hostname="127.0.0.1",
            port=self.port,
            resources=self.resources,
            version="sim",
        )


class Sim:
    """The simulated agents of this process and their link to the master."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        total = Resources.parse(args.resources)
        self.agents: list[SimAgent] = []
        self._resources = total.to_proto()
        self._cpus = total.scalar("cpus")
        self._mem = total.scalar("mem")
        self.by_id: dict[str, SimAgent] = {}
        self.tasks: dict[tuple[str, str], SimTask] = {}
        self.frameworks: dict[str, pb.FrameworkInfo] = {}
        self.detector = MasterDetector(args.master)
        self.leader = ""
        # One channel per master (every agent's streams to it multiplexed over it).
        self._channels: dict[str, tuple[grpc.aio.Channel, apb_grpc.AgentRegistryStub]] = {}
        self._stub: apb_grpc.AgentRegistryStub | None = None
        self._dirty: set[SimAgent] = set()
        self._lost_master = asyncio.Event()
        self._todo: set[SimAgent] = set()
        self._wake = asyncio.Event()
        self._in_flight = asyncio.Semaphore(args.max_in_flight)
        self._busy = False  # registration_loop is (re-)registering agents with the leader
        # Standby sessions: with ZooKeeper only (rule 6).
        self.use_standby = bool(args.standby) and self.detector.uses_zookeeper
        self._standby_masters: set[str] = set()  # the contenders other than the leader
        self._standby_slots = asyncio.Semaphore(args.max_standby_in_flight)
        self._changed: set[SimAgent] = set()  # agents whose standby streams may be dirty
        self._jobs: set[asyncio.Task[Any]] = set()
        self.heartbeat_interval = 5.0
        self.counters: dict[str, int] = {
            k: 0
            for k in (
                "registered",
                "reregistered",
                "registration_failures",
                "heartbeats",
                "heartbeat_failures",
                "launched",
                "finished",
                "killed",
                "overbooked",
                "update_rpcs",
                "updates_sent",
                "updates_resent",
                "acks",
                "stale_acks",
                "unknown_tasks",
                "master_changes",
                "launches_refused",
                "streams_ended",
                "standby_opened",
                "standby_open_failures",
                "standby_ended",
                "standby_closed",
                "standby_refreshes",
                "resumes",
                "takeover_reregisters",
                "takeover_failures",
            )
        }
        # Time (wall clock) the last agent got registered with the current leader, and
        # the time the current leader was first seen.
        self.all_registered_at = 0.0
        self.leader_seen_at = 0.0
        self.leader_noticed_at = 0.0  # ZooKeeper named another leader (watch_leader)

    # ---------------------------------------------------------------- set-up

    def listen(self, server: grpc.aio.Server) -> None:
        for i in range(self.args.agents):
            port = server.add_insecure_port("127.0.0.1:0")
            if port == 0:
                raise OSError("cannot listen on another loopback port")
            self.agents.append(SimAgent(i, port, self._cpus, self._mem, self._resources))

    def _stub_for(self, address: str) -> apb_grpc.AgentRegistryStub:
        """The stub of this process's channel to a master (opened on first use)."""
        entry = self._channels.get(address)
        if entry is None:
            channel = grpc.aio.insecure_channel(
                address,
                options=[
                    ("grpc.enable_http_proxy", 0),
                    ("grpc.max_receive_message_length", 64 << 20),
                    ("grpc.max_send_message_length", 64 << 20),
                ],
            )
            stub = apb_grpc.AgentRegistryStub(channel)  # type: ignore[no-untyped-call]
            entry = self._channels[address] = (channel, stub)
        return entry[1]

    async def _close_channels(self, keep: set[str]) -> None:
        for address in [a for a in self._channels if a not in keep]:
            channel, _ = self._channels.pop(address)
            await channel.close(None)

    async def _connect(self) -> bool:
        """Follow the leader ZooKeeper names; whether it is another one than before."""
        target = await self.detector.detect(timeout=None)
        if target == self.leader and self._stub is not None:
            return False
        self._stub = self._stub_for(target)
        changed = target != self.leader
        if self.leader and changed:
            self.counters["master_changes"] += 1
        self.leader = target
        self.leader_seen_at = time.time()
        if not self.use_standby:
            # Without standby sessions only the leader's channel is of use. (With them, the
            # channels of masters that left the contenders are closed by standby_loop.)
            await self._close_channels({target})
        return changed

    # ---------------------------------------------------------------- registration

    def need_registration(self, agent: SimAgent) -> None:
        agent.registered = False
        self._drop_stream(agent)
        self._todo.add(agent)
        self._wake.set()

    @staticmethod
    def _drop_stream(agent: SimAgent) -> None:
        """Cancel the agent's stream; its reader, no longer reading the agent's stream, ends
        without a word."""
        call, agent.call = agent.call, None
        agent.call_master = ""
        if call is not None:
            call.cancel()

    def _check_all_registered(self) -> None:
        if not self._todo and all(a.registered for a in self.agents):
            self.all_registered_at = time.time()

    async def registration_loop(self) -> None:
        """(Re-)register every agent that needs it, with whichever master leads."""
        for agent in self.agents:
            self.need_registration(agent)
        retry_delay = RETRY_ROUND_MIN
        while True:
            await self._wake.wait()
            self._wake.clear()
            lost = self._lost_master.is_set()
            if not lost and not self._todo:
                continue
            try:
                changed = await self._connect()
            except Exception as exc:
                log.warning("no leading master yet: %r", exc)
                await asyncio.sleep(0.2)
                self._wake.set()
                continue
            if lost or changed:
                retry_delay = RETRY_ROUND_MIN
                self._lost_master.clear()
                self.all_registered_at = 0.0
                for agent in self.agents:
                    # A session with the new leader already (registered before this
                    # round noticed the change) is kept.
                    if not (agent.registered and agent.call_master == self.leader):
                        self.need_registration(agent)
            # Agents whose registration is under way, or that got a session with the
            # leader meanwhile, are left out.
            todo = [a for a in self._todo if not a.registering and not a.registered]
            self._todo.clear()
            if not todo:
                continue
            jobs = []
            for agent in todo:
                standby = agent.standby.get(self.leader)
                if standby is not None and standby.ready:
                    jobs.append(self._take_over(agent, standby))
                else:
                    jobs.append(self._register(agent))
            # A round cut short when ZooKeeper names another leader (while the old one is
            # dead, every round fails against it): the next one is for the new leader.
            self._busy = True
            round_: asyncio.Future[list[bool]] = asyncio.ensure_future(asyncio.gather(*jobs))
            lost_wait: asyncio.Future[Any] = asyncio.ensure_future(self._lost_master.wait())
            try:
                await asyncio.wait([round_, lost_wait], return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost_wait.cancel()
                cut = not round_.done()
                if cut:
                    # (Its jobs end at once; the gathering future then holds a
                    # CancelledError, not to be asked for.)
                    round_.cancel()
                    await asyncio.wait([round_])
                    if not round_.cancelled():
                        round_.exception()  # retrieved: not logged as "never retrieved"
                self._busy = False
            if cut:
                self._todo.update(todo)
                self._wake.set()
                continue
            results = round_.result()
            failed = [a for a, ok in zip(todo, results, strict=True) if not ok]
            if failed:
                self._todo.update(failed)
                # A master that is still recovering answers UNAVAILABLE: try again soon, or
                # at once when ZooKeeper names another leader. Rounds that keep failing
                # (a dead leader until its ZooKeeper session expires) back off to 1 s: a
                # round of thousands of refused calls would keep this process busy, and
                # slow its noticing the new leader.
                await self.detector.wait_change(self.leader, retry_delay * random.uniform(0.5, 1.5))
                retry_delay = min(RETRY_ROUND_MAX, retry_delay * 2)
                self._wake.set()
            else:
                retry_delay = RETRY_ROUND_MIN
                self._check_all_registered()

    def _reregister_request(self, agent: SimAgent) -> apb.ReregisterAgentRequest:
        """What the agent reports on re-registering: every task it holds, their frameworks."""
        tasks = agent.tasks.values()
        return apb.ReregisterAgentRequest(
            agent_info=agent.info(),
            tasks=[self._task_proto(t) for t in tasks],
            frameworks=[
                self.frameworks[fid]
                for fid in {t.framework_id for t in tasks}
                if fid in self.frameworks
            ],
        )

    async def _register(self, agent: SimAgent) -> bool:
        """Open a stream for the agent and (re-)register on it; False if that failed."""
        assert self._stub is not None
        self._drop_stream(agent)  # a stream of the agent's that is still open: cancelled
        address = self.leader
        opening = agent.standby.get(address)
        if opening is not None:
            # A standby stream with the leader still being opened: this registration
            # makes it useless (the agent would have two sessions with the leader).
            self._close_standby(agent, opening)
        agent.registering = True
        call: Stream | None = None
        reregister = bool(agent.agent_id)
        try:
            async with self._in_flight:
                if reregister:
                    first = apb.AgentMessage(reregister=self._reregister_request(agent))
                else:
                    first = apb.AgentMessage(
                        register=apb.RegisterAgentRequest(agent_info=agent.info())
                    )
                # No deadline on the call: it lasts as long as the agent's session.
                call = self._stub.Connect()
                assert call is not None
                async with asyncio.timeout(RPC_TIMEOUT):
                    await call.write(first)
                    reply = await call.read()
        except grpc.aio.AioRpcError as exc:
            self.counters["registration_failures"] += 1
            hint = leader_hint(exc)
            if hint and not self.detector.uses_zookeeper:
                self.detector.appoint(hint)
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                log.warning("agent %d: registration refused: %s", agent.index, exc.details())
            return False
        except (TimeoutError, asyncio.InvalidStateError):
            self.counters["registration_failures"] += 1
            if call is not None:
                call.cancel()
            return False
        except asyncio.CancelledError:
            if call is not None:
                call.cancel()
            if _cancelling():
                raise  # this process is stopping
            self.counters["registration_failures"] += 1  # the channel was closed
            return False
        finally:
            agent.registering = False
        if not isinstance(reply, apb.MasterMessage) or reply.WhichOneof("body") != "registered":
            # The stream ended without a status (EOF), or the master answered out of turn.
            self.counters["registration_failures"] += 1
            if isinstance(reply, apb.MasterMessage):
                log.warning(
                    "agent %d: %r answered to a registration", agent.index, reply.WhichOneof("body")
                )
            call.cancel()
            return False
        self.counters["reregistered" if reregister else "registered"] += 1
        agent.write_lock = asyncio.Lock()
        self._registered(agent, call, address, reply.registered)
        agent.reader = asyncio.ensure_future(self._read_stream(agent, call, address))
        return True

    def _registered(
        self, agent: SimAgent, call: Stream, address: str, response: apb.RegisterAgentResponse
    ) -> None:
        """The master at ``address`` answered ``registered`` on ``call``: the agent's session."""
        if response.agent_id and response.agent_id != agent.agent_id:
            if agent.agent_id:
                self.by_id.pop(agent.agent_id, None)
                # Its standby streams re-registered the old id: opened again with the new one.
                for standby in list(agent.standby.values()):
                    self._close_standby(agent, standby)
            agent.agent_id = response.agent_id
            self._bump(agent)
        self.by_id[agent.agent_id] = agent
        if response.heartbeat_interval_seconds > 0:
            self.heartbeat_interval = response.heartbeat_interval_seconds
        agent.call = call
        agent.call_master = address
        self._session_up(agent)

    def _session_up(self, agent: SimAgent) -> None:
        """The agent's stream is its session with the leader: heartbeats and updates go."""
        agent.registered = True
        if any(t.queue for t in agent.tasks.values()):
            for task in agent.tasks.values():
                task.next_send = 0.0  # resend what the old master may not have passed on
            self._dirty.add(agent)

    def _spawn(self, coro: Any) -> None:
        job = asyncio.ensure_future(coro)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    # ---------------------------------------------------------------- standby sessions

    def _bump(self, agent: SimAgent) -> None:
        """What the agent would report in a re-registration changed: its standby streams
        are dirty (refreshed by standby_refresh_loop)."""
        agent.version += 1
        if agent.standby:
            self._changed.add(agent)

    def _close_standby(self, agent: SimAgent, standby: Standby) -> None:
        if agent.standby.get(standby.address) is standby:
            del agent.standby[standby.address]
        if standby.call is not None:
            standby.call.cancel()  # its reader, no longer reading a standby stream, ends

    def _wants_standby(self, agent: SimAgent) -> bool:
        """Standby streams only for an agent with an id, registered with the leader."""
        return bool(
            agent.agent_id
            and agent.registered
            and agent.call_master == self.leader
            and not agent.registering
        )

    async def standby_loop(self) -> None:
        """Keep one standby stream per agent with each contender that does not lead."""
        if not self.use_standby:
            return
        while True:
            await self._follow_contenders()
            await self._open_missing_standby()
            await asyncio.sleep(STANDBY_SCAN)

    async def _follow_contenders(self) -> None:
        if not self.leader:
            return
        try:
            infos = await self.detector.contenders()
        except Exception as exc:
            log.warning("cannot list the contending masters: %r", exc)
            return
        others = {master_address(info) for info in infos} - {self.leader}
        if others == self._standby_masters:
            return
        # Streams with masters that left the contenders are closed (not with the leader:
        # a stream with a new leader is being taken over).
        gone = self._standby_masters - others - {self.leader}
        self._standby_masters = others
        if gone:
            for agent in self.agents:
                for address in gone:
                    agent.standby_retry.pop(address, None)
                    standby = agent.standby.get(address)
                    if standby is not None:
                        self._close_standby(agent, standby)
                        self.counters["standby_closed"] += 1
        await self._close_channels(
            others | {self.leader} | {a.call_master for a in self.agents if a.call_master}
        )

    async def _open_missing_standby(self) -> None:
        for agent in self.agents:
            if not self._wants_standby(agent):
                continue
            for address in sorted(self._standby_masters):
                if address in agent.standby:
                    continue
                retry = agent.standby_retry.get(address)
                if retry is not None and retry[0] > time.monotonic():
                    continue
                # Registrations with the leader go first.
                while self._busy or self._lost_master.is_set():
                    await asyncio.sleep(0.1)
                await self._standby_slots.acquire()
                if (
                    not self._wants_standby(agent)
                    or address in agent.standby
                    or address not in self._standby_masters
                    or address == self.leader
                ):
                    self._standby_slots.release()
                    continue
                standby = Standby(address)
                agent.standby[address] = standby
                self._spawn(self._open_standby(agent, standby))

    async def _open_standby(self, agent: SimAgent, standby: Standby) -> None:
        """Open a standby stream: the agent's reregister first, answered standing_by."""
        address = standby.address
        version = agent.version
        reply: object = None
        why = ""
        try:
            try:
                first = apb.AgentMessage(reregister=self._reregister_request(agent), standby=True)
                standby.call = self._stub_for(address).Connect()
                call = standby.call
                assert call is not None
                async with asyncio.timeout(RPC_TIMEOUT):
                    await call.write(first)
                    reply = await call.read()
            finally:
                self._standby_slots.release()
        except grpc.aio.AioRpcError as exc:
            why = exc.code().name
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                log.info("agent %d: standby with %s refused: %s", agent.index, address, why)
        except TimeoutError:
            why = "DEADLINE_EXCEEDED"
        except asyncio.InvalidStateError:
            why = "ENDED"
        except asyncio.CancelledError:
            if _cancelling():
                raise  # this process is stopping
            why = "CANCELLED"  # closed meanwhile (the agent registered anew, or the
            # master left the contenders)
        if agent.standby.get(address) is not standby:
            if standby.call is not None:
                standby.call.cancel()
            return  # closed meanwhile
        kind = reply.WhichOneof("body") if isinstance(reply, apb.MasterMessage) else None
        call = standby.call
        if kind == "standing_by":
            assert isinstance(reply, apb.MasterMessage) and call is not None
            standby.ready = True
            standby.sent_version = version
            agent.standby_retry.pop(address, None)
            self.counters["standby_opened"] += 1
            interval = reply.standing_by.heartbeat_interval_seconds
            if interval > 0:
                self.heartbeat_interval = interval
            if version != agent.version:
                self._changed.add(agent)  # changed while opening: refreshed
            self._spawn(self._read_stream(agent, call, address))
            return
        # Refused, ended, or answered out of turn: tried again later, with backoff.
        del agent.standby[address]
        if standby.call is not None:
            standby.call.cancel()
        self.counters["standby_open_failures"] += 1
        key = "standby_open_failures_" + (why or str(kind or "EOF"))
        self.counters[key] = self.counters.get(key, 0) + 1
        self._standby_backoff(agent, address)

    @staticmethod
    def _standby_backoff(agent: SimAgent, address: str) -> None:
        _, backoff = agent.standby_retry.get(address, (0.0, STANDBY_RETRY_MIN))
        agent.standby_retry[address] = (
            time.monotonic() + backoff * random.uniform(0.5, 1.5),
            min(STANDBY_RETRY_MAX, backoff * 2),
        )

    async def standby_refresh_loop(self) -> None:
        """A fresh reregister on every dirty standby stream, at most one a stream every
        ``--standby-refresh`` seconds (the changes in between are coalesced)."""
        if not self.use_standby:
            return
        while True:
            await asyncio.sleep(self.args.standby_refresh)
            changed, self._changed = self._changed, set()
            for agent in changed:
                stale = [
                    s for s in agent.standby.values() if s.ready and s.sent_version != agent.version
                ]
                if not stale:
                    continue
                message = apb.AgentMessage(reregister=self._reregister_request(agent), standby=True)
                for standby in stale:
                    self._spawn(self._refresh(agent, standby, message, agent.version))

    async def _refresh(
        self, agent: SimAgent, standby: Standby, message: apb.AgentMessage, version: int
    ) -> None:
        call = standby.call
        assert call is not None
        try:
            async with asyncio.timeout(RPC_TIMEOUT):
                async with standby.write_lock:
                    if agent.standby.get(standby.address) is not standby:
                        return  # closed, or taken over (then it takes nothing but resume)
                    if standby.sent_version >= version:
                        return  # a later refresh went first
                    await call.write(message)
                    standby.sent_version = version
        except (grpc.aio.AioRpcError, TimeoutError, asyncio.InvalidStateError):
            return  # the stream ended or is stuck: its reader sees it end
        except asyncio.CancelledError:
            if _cancelling():
                raise
            return
        self.counters["standby_refreshes"] += 1

    async def _take_over(self, agent: SimAgent, standby: Standby) -> bool:
        """ZooKeeper named the master of the agent's standby stream leader: the stream
        becomes the agent's session with it (``resume``, after a fresh ``reregister`` if the
        last one sent on it is out of date; neither is answered); False if a write failed."""
        call = standby.call
        assert call is not None
        if agent.standby.get(standby.address) is standby:
            del agent.standby[standby.address]
        self._drop_stream(agent)
        agent.call, agent.call_master = call, standby.address
        agent.write_lock = standby.write_lock
        agent.registering = True
        try:
            sent = await self._take_over_write(agent, standby)
        finally:
            agent.registering = False
        if not sent:
            # A fresh session with the leader and a normal re-registration follow.
            self.counters["takeover_failures"] += 1
            if agent.call is call:
                self._drop_stream(agent)
            return False
        # Not answered: the stream goes on as the agent's session with the leader.
        self._session_up(agent)
        return True

    async def _take_over_write(self, agent: SimAgent, standby: Standby) -> bool:
        """Write the take-over on the agent's (ex-standby) stream: a fresh ``reregister``
        if the stream's last one is out of date, then ``resume``; False if not written (the
        stream was dropped or a write failed)."""
        call = standby.call
        assert call is not None
        try:
            async with asyncio.timeout(RPC_TIMEOUT):
                async with standby.write_lock:
                    if agent.call is not call or agent.registered:
                        return False  # dropped meanwhile, or registered with the leader already
                    # Decided under the lock: a refresh being written counts.
                    if standby.sent_version != agent.version:
                        version = agent.version
                        request = self._reregister_request(agent)
                        await call.write(apb.AgentMessage(reregister=request, standby=True))
                        standby.sent_version = version
                        self.counters["takeover_reregisters"] += 1
                    await call.write(
                        apb.AgentMessage(resume=apb.ResumeSession(agent_id=agent.agent_id))
                    )
                    self.counters["resumes"] += 1
                    return True
        except (grpc.aio.AioRpcError, TimeoutError, asyncio.InvalidStateError):
            return False
        except asyncio.CancelledError:
            if _cancelling():
                raise
            return False

    # ---------------------------------------------------------------- the session

    async def _read_stream(self, agent: SimAgent, call: Stream, address: str) -> None:
        """What the master sends on the agent's stream (its session with the leader, or a
        standby stream), until the stream ends."""
        while True:
            try:
                message = await call.read()
            except grpc.aio.AioRpcError as exc:
                why = exc.code().name
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    log.info("agent %d: stream ended: %s %s", agent.index, why, exc.details())
            except asyncio.CancelledError:
                if _cancelling():
                    raise  # this process is stopping
                why = "CANCELLED"  # by us: dropped (not the agent's stream then), channel closed
            else:
                if isinstance(message, apb.MasterMessage):
                    kind = message.WhichOneof("body")
                    if kind == "acknowledgements":
                        self.acknowledge(message.acknowledgements)
                    elif kind == "heartbeat":
                        if message.heartbeat.reregister and agent.call is call:
                            self.need_registration(agent)  # cancels this stream
                    elif kind == "run_tasks":
                        self.run_tasks(message.run_tasks)
                    elif kind == "kill_task":
                        self.kill(message.kill_task)
                    elif kind == "shutdown_framework":
                        self.shutdown_framework(message.shutdown_framework.framework_id)
                    elif kind is not None:
                        log.warning("agent %d: unexpected %r on its stream", agent.index, kind)
                    continue
                why = "EOF"
            if agent.call is call:
                self.counters["streams_ended"] += 1
                self.counters["streams_ended_" + why] = (
                    self.counters.get("streams_ended_" + why, 0) + 1
                )
                self.need_registration(agent)
            elif (standby := agent.standby.get(address)) is not None and standby.call is call:
                del agent.standby[address]
                self.counters["standby_ended"] += 1
                self.counters["standby_ended_" + why] = (
                    self.counters.get("standby_ended_" + why, 0) + 1
                )
                self._standby_backoff(agent, address)
            return

    async def _write(self, agent: SimAgent, message: apb.AgentMessage, timeout: float) -> str:
        """Write one message on the agent's stream, after the writes before it: "" once
        written, else why not (the stream's end is the reader's business)."""
        call, lock = agent.call, agent.write_lock
        if call is None:
            return "NO_STREAM"
        try:
            async with asyncio.timeout(timeout):
                async with lock:
                    await call.write(message)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        except TimeoutError:
            # Writes that cannot go for so long: a stuck stream. (A write cut short cancels
            # the call; the reader then sees it end.)
            return "DEADLINE_EXCEEDED"
        except asyncio.InvalidStateError:
            return "ENDED"  # the call has ended
        except asyncio.CancelledError:
            if _cancelling():
                raise  # this process is stopping
            return "CANCELLED"  # the call was cancelled (dropped, or its channel closed)
        return ""

    def _task_proto(self, task: SimTask) -> pb.Task:
        info = task.info
        proto = pb.Task(
            name=info.name,
            task_id=info.task_id,
            framework_id=task.framework_id,
            agent_id=task.agent.agent_id,
            state=task.state,  # type: ignore[arg-type]
            resources=info.resources,
            labels=info.labels,
            command=info.command,
        )
        if task.latest is not None:
            proto.status.CopyFrom(task.latest)
        return proto

    async def heartbeat_loop(self) -> None:
        """Heartbeat every registered agent at its own phase (one slice every 0.1 s)."""
        tick = 0
        pending: set[asyncio.Task[None]] = set()
        while True:
            ticks_per_round = max(1, int(self.heartbeat_interval / 0.1))
            for agent in self.agents[tick % ticks_per_round :: ticks_per_round]:
                if agent.registered:
                    task = asyncio.ensure_future(self._heartbeat(agent))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
            tick += 1
            await asyncio.sleep(0.1)

    async def _heartbeat(self, agent: SimAgent) -> None:
        call = agent.call
        if call is None:
            return
        error = await self._write(
            agent,
            apb.AgentMessage(heartbeat=apb.HeartbeatRequest(agent_id=agent.agent_id)),
            max(self.heartbeat_interval, 10.0),
        )
        if not error:
            # The master answers only when the agent must re-register (the reader).
            self.counters["heartbeats"] += 1
            return
        if agent.call is not call:
            return  # the stream was dropped meanwhile: not this heartbeat's failure
        # As a real agent: a failed heartbeat means registering again.
        self.counters["heartbeat_failures"] += 1
        if error != "DEADLINE_EXCEEDED":
            self.counters["heartbeat_errors_" + error] = (
                self.counters.get("heartbeat_errors_" + error, 0) + 1
            )
        self.need_registration(agent)

    async def watch_leader(self) -> None:
        """With ZooKeeper: a new leader means every agent re-registers with it at once (or,
        with a standby stream with it, takes that over)."""
        if not self.detector.uses_zookeeper:
            return
        seen: str | None = await self.detector.detect(timeout=None)
        while True:
            seen = await self.detector.wait_change(seen, 3600.0)
            if seen and self.leader and seen != self.leader:
                self.leader_noticed_at = time.time()
                self._lost_master.set()
                self._wake.set()

    # ---------------------------------------------------------------- tasks

    def run_tasks(self, request: apb.RunTasksRequest) -> None:
        framework = request.framework_info
        known = self.frameworks.get(framework.id)
        self.frameworks[framework.id] = framework
        if known is not None and known != framework and self.use_standby:
            # Re-registrations report the frameworks of the agent's tasks: changed.
            for holder in {t.agent for t in self.tasks.values() if t.framework_id == framework.id}:
                self._bump(holder)
        now = time.monotonic()
        for info in request.tasks:
            agent = self.by_id.get(info.agent_id)
            if agent is None:
                self.counters["unknown_tasks"] += 1
                continue
            key = (framework.id, info.task_id)
            if key in self.tasks:
                continue  # a resent launch
            res = Resources.from_proto(info.resources)
            cpus, mem = res.scalar("cpus"), res.scalar("mem")
            if (
                agent.used_cpus + cpus > agent.cpus + 1e-9
                or agent.used_mem + mem > agent.mem + 1e-9
            ):
                self.counters["overbooked"] += 1
                log.error(
                    "agent %s asked to run %s beyond its resources (%.2f/%.2f cpus used)",
                    agent.agent_id,
                    info.task_id,
                    agent.used_cpus,
                    agent.cpus,
                )
            task = SimTask(framework.id, info, agent, cpus, mem)
            agent.used_cpus += cpus
            agent.used_mem += mem
            agent.tasks[key] = task
            self.tasks[key] = task
            self._bump(agent)
            self.counters["launched"] += 1
            self._emit(task, pb.TASK_RUNNING, now)
            seconds = self._duration(info)
            if seconds >= 0:
                task.timer = asyncio.get_running_loop().call_later(
                    seconds, self._finish, task, pb.TASK_FINISHED
                )

    def _duration(self, info: pb.TaskInfo) -> float:
        words = info.command.shell.split()
        if len(words) == 2 and words[0] == "sleep":
            with contextlib.suppress(ValueError):
                return float(words[1])
        return float(self.args.task_seconds)

    def _finish(self, task: SimTask, state: int) -> None:
        if task.state in TERMINAL_STATES:
            return
        if task.timer is not None:
            task.timer.cancel()
            task.timer = None
        agent = task.agent
        agent.used_cpus -= task.cpus
        agent.used_mem -= task.mem
        self.counters["finished" if state == pb.TASK_FINISHED else "killed"] += 1
        self._emit(task, state, time.monotonic())

    def _emit(self, task: SimTask, state: int, now: float) -> None:
        status = pb.TaskStatus(
            task_id=task.info.task_id,
            state=state,  # type: ignore[arg-type]
            source=pb.TaskStatus.SOURCE_AGENT,
            agent_id=task.agent.agent_id,
            framework_id=task.framework_id,
            timestamp=time.time(),
            uuid=uuid.uuid4().bytes,
        )
        task.state = state
        task.latest = status
        task.queue.append(status)
        self._bump(task.agent)
        if len(task.queue) == 1:
            task.next_send = 0.0
            task.backoff = RETRY_MIN
            self._dirty.add(task.agent)

    def kill(self, request: apb.KillTaskRequest) -> None:
        task = self.tasks.get((request.framework_id, request.task_id))
        if task is not None:
            self._finish(task, pb.TASK_KILLED)

    def shutdown_framework(self, framework_id: str) -> None:
        for task in [t for t in self.tasks.values() if t.framework_id == framework_id]:
            self._finish(task, pb.TASK_KILLED)

    def acknowledge(self, request: apb.AcknowledgeUpdatesRequest) -> None:
        for ack in request.acks:
            task = self.tasks.get((ack.framework_id, ack.task_id))
            if task is None or not task.queue or task.queue[0].uuid != ack.uuid:
                self.counters["stale_acks"] += 1
                continue
            self.counters["acks"] += 1
            task.queue.pop(0)
            if task.queue:
                task.next_send = 0.0
                task.backoff = RETRY_MIN
                self._dirty.add(task.agent)
            elif task.state in TERMINAL_STATES:
                del self.tasks[task.key]
                task.agent.tasks.pop(task.key, None)
                self._bump(task.agent)

    async def send_updates(self) -> None:
        """Every FLUSH_INTERVAL: one ``updates`` message per agent with updates due."""
        inflight: set[asyncio.Task[None]] = set()
        retry_scan = 0.0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            now = time.monotonic()
            if now >= retry_scan:  # resends: a slow scan, once a second
                retry_scan = now + 1.0
                for task in self.tasks.values():
                    if task.queue and task.next_send and task.next_send <= now:
                        self._dirty.add(task.agent)
            dirty, self._dirty = self._dirty, set()
            for agent in dirty:
                if not agent.registered or agent.call is None:
                    continue
                batch: list[apb.StatusUpdate] = []
                for task in agent.tasks.values():
                    if not task.queue or (task.next_send and task.next_send > now):
                        continue
                    if task.next_send:
                        self.counters["updates_resent"] += 1
                        task.backoff = min(RETRY_MAX, task.backoff * 2)
                    task.next_send = now + task.backoff
                    assert task.latest is not None
                    batch.append(
                        apb.StatusUpdate(
                            framework_id=task.framework_id,
                            status=task.queue[0],
                            latest_state=task.latest.state,
                        )
                    )
                if batch:
                    job = asyncio.ensure_future(self._send(agent, batch))
                    inflight.add(job)
                    job.add_done_callback(inflight.discard)

    async def _send(self, agent: SimAgent, batch: list[apb.StatusUpdate]) -> None:
        message = apb.AgentMessage(
            updates=apb.StatusUpdates(agent_id=agent.agent_id, updates=batch)
        )
        if await self._write(agent, message, RPC_TIMEOUT):
            # Resent on the retry timer. A master that does not know this agent ends its
            # stream (FAILED_PRECONDITION): the reader has it register again.
            return
        self.counters["update_rpcs"] += 1
        self.counters["updates_sent"] += len(batch)

    # ---------------------------------------------------------------- reporting

    def stats(self) -> dict[str, Any]:
        registered = sum(1 for a in self.agents if a.registered)
        running = sum(1 for t in self.tasks.values() if t.state == pb.TASK_RUNNING)
        return {
            "t": time.time(),
            "agents": len(self.agents),
            "registered_now": registered,
            "leader": self.leader,
            "leader_seen_at": self.leader_seen_at,
            "leader_noticed_at": self.leader_noticed_at,
            "all_registered_at": self.all_registered_at if registered == len(self.agents) else 0,
            "tasks": len(self.tasks),
            "running": running,
            "heartbeat_interval": self.heartbeat_interval,
            "standby_now": sum(1 for a in self.agents for s in a.standby.values() if s.ready),
            **self.counters,
        }

    async def report(self) -> None:
        while True:
            print(json.dumps(self.stats()), flush=True)
            await asyncio.sleep(self.args.report_interval)


class SimAgentService(apb_grpc.AgentServicer):
    """The ``Agent`` service of every simulated agent (one servicer, many ports)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    async def RunTasks(self, request: apb.RunTasksRequest, context: Context) -> apb.AgentResponse:
        agent = self.sim.by_id.get(request.tasks[0].agent_id) if request.tasks else None
        if agent is not None and not agent.registered:
            # As a Mesos agent: no launches while (re-)registering. Its re-registration,
            # already on its way, cannot report the task, so the master must not think
            # the launch arrived (UNAVAILABLE: the master drops the task).
            self.sim.counters["launches_refused"] += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "agent is re-registering")
        self.sim.run_tasks(request)
        return apb.AgentResponse()

    async def KillTask(self, request: apb.KillTaskRequest, context: Context) -> apb.AgentResponse:
        self.sim.kill(request)
        return apb.AgentResponse()

    async def AcknowledgeUpdates(
        self, request: apb.AcknowledgeUpdatesRequest, context: Context
    ) -> apb.AgentResponse:
        self.sim.acknowledge(request)
        return apb.AgentResponse()

    async def ShutdownFramework(
        self, request: apb.ShutdownFrameworkRequest, context: Context
    ) -> apb.AgentResponse:
        self.sim.shutdown_framework(request.framework_id)
        return apb.AgentResponse()

    async def ReadFile(
        self, request: apb.ReadFileRequest, context: Context
    ) -> apb.ReadFileResponse:
        await context.abort(grpc.StatusCode.NOT_FOUND, "simulated agents have no files")
        raise AssertionError("unreachable")

    async def ListFiles(
        self, request: apb.ListFilesRequest, context: Context
    ) -> apb.ListFilesResponse:
        await context.abort(grpc.StatusCode.NOT_FOUND, "simulated agents have no files")
        raise AssertionError("unreachable")


def _cancelling() -> bool:
    """Whether the running task is being cancelled (rather than a gRPC call it awaits: a
    call cancelled locally raises CancelledError in whoever awaits it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def amain(args: argparse.Namespace) -> None:
    raise_fd_limit()
    sim = Sim(args)
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 64 << 20)]
    )
    apb_grpc.add_AgentServicer_to_server(SimAgentService(sim), server)  # type: ignore[no-untyped-call]
    sim.listen(server)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopping = False

    def ended(job: asyncio.Task[None]) -> None:
        # A loop of the simulator that fails before the stop is a bug: say so, loudly.
        # (A loop with nothing to do, e.g. standby sessions without ZooKeeper, returns.)
        if stopping:
            return
        if job.cancelled():
            log.error("%s was cancelled", job.get_coro())
        elif (error := job.exception()) is not None:
            log.error("%s failed: %r", job.get_coro(), error, exc_info=error)

    jobs = [
        asyncio.ensure_future(c)
        for c in (
            sim.registration_loop(),
            sim.heartbeat_loop(),
            sim.send_updates(),
            sim.watch_leader(),
            sim.standby_loop(),
            sim.standby_refresh_loop(),
            sim.report(),
        )
    ]
    for job in jobs:
        job.add_done_callback(ended)
    await stop.wait()
    stopping = True
    final = json.dumps({**sim.stats(), "final": True})
    print(final, flush=True)
    print(final, file=sys.stderr, flush=True)
    for job in jobs:
        job.cancel()
    await server.stop(0)
    await sim.detector.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--master", required=True, help="host:port or zk://host:port/path")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--resources", default="cpus:4;mem:4096")
    parser.add_argument("--task-seconds", type=float, default=10.0, help="when not in the command")
    parser.add_argument("--max-in-flight", type=int, default=500, help="registrations at once")
    parser.add_argument(
        "--standby",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="standby sessions with the non-leading masters (with ZooKeeper)",
    )
    parser.add_argument(
        "--max-standby-in-flight", type=int, default=64, help="standby streams opening at once"
    )
    parser.add_argument(
        "--standby-refresh",
        type=float,
        default=2.0,  # as the agent (mesospy.agent.standby.REFRESH_SECONDS)
        help="seconds between two reregisters on one standby stream (changes coalesced)",
    )
    parser.add_argument("--report-interval", type=float, default=1.0)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s sim %(message)s")
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
