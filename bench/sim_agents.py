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
  leader (a real agent's detector does the same);
- a task "runs" for the seconds its command names (``sleep 12.5``; else ``--task-seconds``):
  TASK_RUNNING at once, then TASK_FINISHED; KillTask ends it TASK_KILLED;
- status updates of one task go one at a time, the next after the master forwarded the
  framework's acknowledgement of the previous one; unacknowledged ones are resent
  (10 s, doubling, as the agent); updates of one agent due together travel in one
  ``updates`` message;
- RunTasks asking for more than the agent has free counts as an overbooking (a wrong
  result: an offer was double-booked).

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

log = logging.getLogger("sim_agents")
Context = grpc.aio.ServicerContext[Any, Any]
Stream = grpc.aio.StreamStreamCall[apb.AgentMessage, apb.MasterMessage]
RPC_TIMEOUT = 30.0
RETRY_MIN, RETRY_MAX = 10.0, 60.0  # the agent's defaults
FLUSH_INTERVAL = 0.02  # status updates are gathered this long into per-agent batches


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
        self._channel: grpc.aio.Channel | None = None
        self._stub: apb_grpc.AgentRegistryStub | None = None
        self._dirty: set[SimAgent] = set()
        self._lost_master = asyncio.Event()
        self._todo: set[SimAgent] = set()
        self._wake = asyncio.Event()
        self._in_flight = asyncio.Semaphore(args.max_in_flight)
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
            )
        }
        # Time (wall clock) the last agent got registered with the current leader, and
        # the time the current leader was first seen.
        self.all_registered_at = 0.0
        self.leader_seen_at = 0.0

    # ---------------------------------------------------------------- set-up

    def listen(self, server: grpc.aio.Server) -> None:
        for i in range(self.args.agents):
            port = server.add_insecure_port("127.0.0.1:0")
            if port == 0:
                raise OSError("cannot listen on another loopback port")
            self.agents.append(SimAgent(i, port, self._cpus, self._mem, self._resources))

    async def _connect(self) -> None:
        target = await self.detector.detect(timeout=None)
        if target != self.leader or self._channel is None:
            if self._channel is not None:
                await self._channel.close(None)
            self._channel = grpc.aio.insecure_channel(
                target,
                options=[
                    ("grpc.enable_http_proxy", 0),
                    ("grpc.max_receive_message_length", 64 << 20),
                    ("grpc.max_send_message_length", 64 << 20),
                ],
            )
            self._stub = apb_grpc.AgentRegistryStub(self._channel)  # type: ignore[no-untyped-call]
            if self.leader:
                self.counters["master_changes"] += 1
            self.leader = target
            self.leader_seen_at = time.time()

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
        if call is not None:
            call.cancel()

    async def registration_loop(self) -> None:
        """(Re-)register every agent that needs it, with whichever master leads."""
        for agent in self.agents:
            self.need_registration(agent)
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._lost_master.is_set():
                self._lost_master.clear()
                self.all_registered_at = 0.0
                for agent in self.agents:
                    self.need_registration(agent)
            todo = [a for a in self._todo if not a.registering]
            self._todo.clear()
            if not todo:
                continue
            try:
                await self._connect()
            except Exception as exc:
                log.warning("no leading master yet: %r", exc)
                self._todo.update(todo)
                await asyncio.sleep(0.2)
                self._wake.set()
                continue
            results = await asyncio.gather(*(self._register(a) for a in todo))
            failed = [a for a, ok in zip(todo, results, strict=True) if not ok]
            if failed:
                self._todo.update(failed)
                # A master that is still recovering answers UNAVAILABLE: try again soon, or
                # at once when ZooKeeper names another leader.
                await self.detector.wait_change(self.leader, random.uniform(0.05, 0.2))
                self._wake.set()
            elif not self._todo and all(a.registered for a in self.agents):
                self.all_registered_at = time.time()

    async def _register(self, agent: SimAgent) -> bool:
        """Open a stream for the agent and (re-)register on it; False if that failed."""
        assert self._stub is not None
        self._drop_stream(agent)  # a stream of the agent's that is still open: cancelled
        agent.registering = True
        call: Stream | None = None
        reregister = bool(agent.agent_id)
        try:
            async with self._in_flight:
                if reregister:
                    first = apb.AgentMessage(
                        reregister=apb.ReregisterAgentRequest(
                            agent_info=agent.info(),
                            tasks=[self._task_proto(t) for t in agent.tasks.values()],
                            frameworks=[
                                self.frameworks[fid]
                                for fid in {t.framework_id for t in agent.tasks.values()}
                                if fid in self.frameworks
                            ],
                        )
                    )
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
        response = reply.registered
        if response.agent_id and response.agent_id != agent.agent_id:
            if agent.agent_id:
                self.by_id.pop(agent.agent_id, None)
            agent.agent_id = response.agent_id
        self.by_id[agent.agent_id] = agent
        if response.heartbeat_interval_seconds > 0:
            self.heartbeat_interval = response.heartbeat_interval_seconds
        agent.call = call
        agent.write_lock = asyncio.Lock()
        agent.reader = asyncio.ensure_future(self._read_stream(agent, call))
        agent.registered = True
        if any(t.queue for t in agent.tasks.values()):
            for task in agent.tasks.values():
                task.next_send = 0.0  # resend what the old master may not have passed on
            self._dirty.add(agent)
        return True

    async def _read_stream(self, agent: SimAgent, call: Stream) -> None:
        """What the master sends on the agent's stream, until the stream ends."""
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
        """With ZooKeeper: a new leader means every agent re-registers with it at once."""
        if not self.detector.uses_zookeeper:
            return
        seen: str | None = await self.detector.detect(timeout=None)
        while True:
            seen = await self.detector.wait_change(seen, 3600.0)
            if seen and self.leader and seen != self.leader:
                self._lost_master.set()
                self._wake.set()

    # ---------------------------------------------------------------- tasks

    def run_tasks(self, request: apb.RunTasksRequest) -> None:
        framework = request.framework_info
        self.frameworks[framework.id] = framework
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
            "all_registered_at": self.all_registered_at if registered == len(self.agents) else 0,
            "tasks": len(self.tasks),
            "running": running,
            "heartbeat_interval": self.heartbeat_interval,
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
    jobs = [
        asyncio.ensure_future(c)
        for c in (
            sim.registration_loop(),
            sim.heartbeat_loop(),
            sim.send_updates(),
            sim.watch_leader(),
            sim.report(),
        )
    ]
    await stop.wait()
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
