"""Agent life cycle: register, re-register, heartbeats, unreachable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mesospy.master.agent_link import AgentLink, AgentSession
from mesospy.master.burst_log import BurstLog
from mesospy.master.errors import FailedPrecondition, InvalidArgument
from mesospy.master.executors import ExecutorRecord, reported_executors
from mesospy.master.ownership import caller_principal, check_owner
from mesospy.master.state import AgentRecord, FrameworkRecord, TaskRecord
from mesospy.master.validation import agent_info_problems, id_problem
from mesospy.operations import with_checkpointed
from mesospy.resources import ResourceError, Resources
from mesospy.security.channels import ClientSecurity
from mesospy.task_states import is_terminal
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)
Reason = pb.TaskStatus


@dataclass(frozen=True)
class Reregistration:
    """A re-registration checked, with a record made for each reported task (by task id)
    and what they use (by framework and role): what a standby master keeps until it leads.
    A record is taken only for a task the master does not know yet."""

    request: apb.ReregisterAgentRequest
    info: pb.AgentInfo
    total: Resources
    tasks: Sequence[tuple[str, TaskRecord]]
    used: dict[tuple[str, str], Resources]
    executors: Sequence[ExecutorRecord] = ()

    def reported(self) -> set[tuple[str, str]]:
        return {(record.framework_id, task_id) for task_id, record in self.tasks}


class AgentHandler:
    """Admits agents, watches their heartbeats and handles their loss."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self._next_id = 0
        self.gone: set[str] = set()
        # Agents in the registry that have not re-registered with this master yet, with
        # the reconciliation requests waiting on them.
        self.recovering: dict[str, list[tuple[str, str]]] = {}
        # Reconciliation requests naming no agent, answered once no agent is recovering.
        self.unplaced: list[tuple[str, str]] = []
        self._recovering_info: dict[str, pb.AgentInfo] = {}
        self._removal_timers: dict[str, asyncio.TimerHandle] = {}
        # Registered agents by the address the master calls them at (host:port).
        self._at_address: dict[str, set[str]] = {}
        self._resources_cache: dict[tuple[bytes, ...], Resources] = {}
        self._recovery_started = 0.0
        # Thousands of agents come at once after a failover: a line each for the first.
        self._registrations = BurstLog(log, "agents registered")
        self._reregistrations = BurstLog(log, "agents re-registered")
        # Standby sessions (see agent.proto): re-registrations held while this master does
        # not lead, and agents taken over from them since it leads.
        self.standing_by = 0
        self.resumed = 0

    # ---------------------------------------------------------------- recovery

    def recover(
        self,
        admitted: list[pb.AgentInfo],
        unreachable: list[pb.AgentInfo],
        gone: list[pb.AgentInfo],
    ) -> None:
        """Take in the registry's agents; admitted ones must re-register in time."""
        self.gone.update(a.id for a in gone)
        for info in unreachable:
            self.m.state.unreachable_agents[info.id] = info
            self._start_removal_timer(info.id)
        for info in admitted:
            self.recovering[info.id] = []
            self._recovering_info[info.id] = info
        self._recovery_started = time.monotonic()
        if admitted:
            asyncio.get_running_loop().call_later(
                self.m.config.agent_reregister_timeout, self._reregistration_timed_out
            )
        # Keep numbering after the recovered agents so ids are never reused.
        self._next_id = len(admitted) + len(unreachable) + len(gone)

    def _reregistration_timed_out(self) -> None:
        for agent_id in list(self.recovering):
            info = self._recovering_info.pop(agent_id)
            pending = self.recovering.pop(agent_id)
            log.warning("agent %s did not re-register in time: unreachable", agent_id)
            self.m.state.unreachable_agents[agent_id] = info
            self._start_removal_timer(agent_id)
            self.m.tasks.answer_deferred(agent_id, pending)
            self.m.spawn(self.m.registry.mark_agent_unreachable(agent_id, self.m.now()))
        self._answer_unplaced()

    def _answer_unplaced(self) -> None:
        if not self.recovering and self.unplaced:
            pending, self.unplaced = self.unplaced, []
            self.m.tasks.answer_deferred("", pending)

    def _start_removal_timer(self, agent_id: str) -> None:
        timeout = self.m.config.agent_removal_timeout
        if timeout > 0:
            loop = asyncio.get_running_loop()
            self._removal_timers[agent_id] = loop.call_later(
                timeout, lambda: self.m.spawn(self.mark_gone(agent_id, "removal timeout"))
            )

    async def mark_gone(self, agent_id: str, why: str, by_operator: bool = False) -> None:
        """The agent will never come back: its tasks are GONE and it may not re-register."""
        if agent_id in self.gone:
            return
        timer = self._removal_timers.pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        self.gone.add(agent_id)
        self.m.maintenance.forget(agent_id)
        agent = self.m.state.agents.get(agent_id)
        if agent is not None:
            await self._detach(
                agent,
                unreachable=False,
                reason=Reason.REASON_AGENT_REMOVED,
                why=why,
                gone_state=pb.TASK_GONE_BY_OPERATOR if by_operator else pb.TASK_GONE,
            )
        self.m.state.unreachable_agents.pop(agent_id, None)
        state = pb.TASK_GONE_BY_OPERATOR if by_operator else pb.TASK_GONE
        for framework in self.m.state.frameworks.values():
            for task in list(framework.unreachable_tasks.values()):
                if task.agent_id == agent_id:
                    status = self.m.master_status(
                        task.task_id,
                        agent_id,
                        framework.id,
                        state,
                        Reason.REASON_AGENT_REMOVED,
                        f"agent gone: {why}",
                    )
                    self.m.tasks.finish(task, status)
        await self.m.registry.mark_agent_gone(agent_id)

    def _response(self, agent_id: str) -> apb.RegisterAgentResponse:
        return apb.RegisterAgentResponse(
            agent_id=agent_id,
            master_info=self.m.info,
            heartbeat_interval_seconds=self.m.config.agent_ping_timeout,
        )

    # ---------------------------------------------------------------- register

    async def register(self, request: apb.RegisterAgentRequest) -> apb.RegisterAgentResponse:
        info = pb.AgentInfo()
        info.CopyFrom(request.agent_info)
        problems, total = agent_info_problems(info)
        if problems or total is None:
            raise InvalidArgument("; ".join(problems))
        address = _address(info)
        for old_id in sorted(self._at_address.get(address, ())):
            if (old := self.m.state.agents.get(old_id)) is not None:
                # The agent at this address restarted without its old identity.
                await self.remove(old, Reason.REASON_AGENT_RESTARTED, "agent restarted")
        self._next_id += 1
        info.id = f"{self.m.id}-S{self._next_id}"
        await self.m.registry.admit_agent(info)
        self._add(info, total).link.use_token(request.call_token)
        self._registrations.event("agent %s at %s registered with %s", info.id, address, total)
        return self._response(info.id)

    def _add(
        self,
        info: pb.AgentInfo,
        total: Resources,
        used: dict[tuple[str, str], Resources] | None = None,
    ) -> AgentRecord:
        now = time.monotonic()
        link = self._link(info.id, _address(info))
        record = AgentRecord(
            info=info, total=total, registered_time=self.m.now(), last_seen=now, link=link
        )
        record.owner = caller_principal()
        self.m.state.agents[info.id] = record
        self._remember_address(info.id, link.address)
        self.m.events.agent_added(record)
        self.m.allocator.add_agent(info.id, total, used or {})
        self.m.request_allocation()
        return record

    # ---------------------------------------------------------------- re-register

    async def reregister(self, request: apb.ReregisterAgentRequest) -> apb.RegisterAgentResponse:
        return await self.readmit(self.prepare(request))

    def prepare(self, request: apb.ReregisterAgentRequest) -> Reregistration:
        """Check a re-registration and make its tasks' records: all that needs no state,
        so a standby master does it ahead of leading (see ``readmit``)."""
        info = pb.AgentInfo()
        info.CopyFrom(request.agent_info)
        if p := id_problem("agent_info.id", info.id):
            raise InvalidArgument(f"{p}; an agent without an id registers, not re-registers")
        problems, static = agent_info_problems(info)
        if problems or static is None:
            raise InvalidArgument("; ".join(problems))
        try:
            kept = Resources.from_proto(request.checkpointed_resources)
            total = with_checkpointed(static, kept)
        except ResourceError as exc:
            raise InvalidArgument(f"checkpointed_resources: {exc}") from None
        tasks: list[tuple[str, TaskRecord]] = []
        used: dict[tuple[str, str], Resources] = {}
        for task in request.tasks:
            task_id, framework_id = task.task_id, task.framework_id
            if p := id_problem("task_id", task_id) or id_problem("framework_id", framework_id):
                raise InvalidArgument(f"reported task: {p}")
            role, state, share = task.role or "*", task.state, self._resources_of(task)
            ended = is_terminal(state)
            record = TaskRecord(None, framework_id, info.id, role, share, reported=task)
            record.latest_state = state
            # An ended task's resources are not counted in use (``used``): its update,
            # resent until acknowledged, must not give them back a second time.
            record.resources_recovered = ended
            if task.HasField("status"):
                record.status = task.status
                record.state = record.status.state
            tasks.append((task_id, record))
            if not ended:
                used[framework_id, role] = used.get((framework_id, role), Resources()) + share
        executors = reported_executors(request)
        for executor in executors:  # their own share is in use too
            key = (executor.info.framework_id, executor.role)
            used[key] = used.get(key, Resources()) + executor.resources
        return Reregistration(request, info, total, tasks, used, executors)

    async def readmit(self, prepared: Reregistration) -> apb.RegisterAgentResponse:
        """Take the agent of a prepared re-registration (back) in, with its tasks."""
        request, info, total = prepared.request, prepared.info, prepared.total
        if info.id in self.gone:
            raise FailedPrecondition(
                f"agent {info.id!r} was marked gone; it must start afresh with a new identity"
            )
        was_unreachable = self.m.state.unreachable_agents.pop(info.id, None) is not None
        if (timer := self._removal_timers.pop(info.id, None)) is not None:
            timer.cancel()
        deferred = self.recovering.pop(info.id, None)
        if deferred is not None and not self.recovering:
            log.info(
                "every agent in the registry is back, %.2f s after this master took over",
                time.monotonic() - self._recovery_started,
            )
        self._recovering_info.pop(info.id, None)
        frameworks = {f.id: f for f in request.frameworks}
        record = self.m.state.agents.get(info.id)
        if record is not None:
            check_owner("agent", record.id, record.owner)
        readmitted = record is None
        resend = False
        if record is None:
            static = Resources.from_proto(info.resources)
            total, resend = self.m.reservations.readmitted_total(info, total, static)
            await self.m.registry.admit_agent(info)
            record = self._add(info, total, prepared.used)
        else:
            self._follow_address(record, info)
            self.heard_from(record)
        record.link.use_token(request.call_token)
        self.m.reservations.reregistered(record, prepared.total, resend)
        self.m.executors.reregistered(record, prepared.executors, charged=readmitted)
        reported = prepared.reported()
        for task_id, fresh in prepared.tasks:
            framework_info = frameworks.get(fresh.framework_id)
            self._adopt(record, task_id, fresh, framework_info, was_unreachable)
        if readmitted:
            # Drained or deactivated before a failover (or before it was unreachable).
            self.m.maintenance.agent_readmitted(record)
        for key, task_record in list(record.tasks.items()):
            if key in reported or self.m.tasks.launching(key):
                continue
            # The agent does not have it: a task it ran is lost; a launch it never took
            # (STAGING: the agent died before it checkpointed the task) never started.
            framework = self.m.state.frameworks.get(task_record.framework_id)
            never_started = task_record.latest_state == pb.TASK_STAGING
            state = (
                pb.TASK_DROPPED
                if never_started and framework is not None and framework.partition_aware
                else pb.TASK_LOST
            )
            status = self.m.master_status(
                task_record.task_id,
                record.id,
                task_record.framework_id,
                state,
                Reason.REASON_AGENT_RESTARTED,
                "the agent re-registered without this task",
            )
            self.m.tasks.finish(task_record, status)
        if was_unreachable:
            self._resolve_unreported(info.id, reported)
        self.m.tasks.answer_deferred(info.id, deferred or [])
        self._answer_unplaced()
        self._reregistrations.event(
            "agent %s re-registered with %d tasks", info.id, len(request.tasks)
        )
        return self._response(info.id)

    def _follow_address(self, agent: AgentRecord, info: pb.AgentInfo) -> None:
        """An agent back under its id at another address (restarted on a new port): call
        it there from now on."""
        address = _address(info)
        if address == agent.link.address:
            return
        old = agent.link
        self._forget_address(agent.id, old.address)
        agent.link = self._link(agent.id, address)
        agent.info.hostname, agent.info.port = info.hostname, info.port
        self._remember_address(agent.id, address)
        self.m.spawn(old.close())
        log.info("agent %s moved from %s to %s", agent.id, old.address, address)

    def _link(self, agent_id: str, address: str) -> AgentLink:
        return AgentLink(agent_id, address, ClientSecurity(self.m.config.tls))

    def _remember_address(self, agent_id: str, address: str) -> None:
        self._at_address.setdefault(address, set()).add(agent_id)

    def _forget_address(self, agent_id: str, address: str) -> None:
        at_address = self._at_address.get(address)
        if at_address is not None:
            at_address.discard(agent_id)
            if not at_address:
                del self._at_address[address]

    def _resolve_unreported(self, agent_id: str, reported: set[tuple[str, str]]) -> None:
        """Tasks held UNREACHABLE that the returning agent does not have are over: GONE if
        they ran, DROPPED if the launch never reached the agent."""
        for framework in self.m.state.frameworks.values():
            for task in list(framework.unreachable_tasks.values()):
                if task.agent_id != agent_id or (task.framework_id, task.task_id) in reported:
                    continue
                state = pb.TASK_DROPPED if task.state == pb.TASK_STAGING else pb.TASK_GONE
                status = self.m.master_status(
                    task.task_id,
                    agent_id,
                    framework.id,
                    state,
                    Reason.REASON_AGENT_RESTARTED,
                    "the agent came back without this task",
                )
                self.m.tasks.finish(task, status)

    def _resources_of(self, task: pb.Task) -> Resources:
        """``Resources.from_proto(task.resources)``, remembered per distinct list: after a
        failover 100,000 reported tasks come in a handful of shapes."""
        key = tuple(r.SerializeToString() for r in task.resources)
        resources = self._resources_cache.get(key)
        if resources is None:
            resources = Resources.from_proto(task.resources)
            if len(self._resources_cache) >= 4096:
                self._resources_cache.clear()
            self._resources_cache[key] = resources
        return resources

    def _adopt(
        self,
        agent: AgentRecord,
        task_id: str,
        fresh: TaskRecord,
        framework_info: pb.FrameworkInfo | None,
        was_unreachable: bool,
    ) -> None:
        """Take in a task an agent reports (``fresh``: its record as reported, taken if
        the master does not know the task), re-creating its framework if need be."""
        state = self.m.state
        framework_id = fresh.framework_id
        if framework_id in state.removed_frameworks:
            self.m.spawn(agent.link.shutdown_framework(framework_id))
            return
        framework = state.frameworks.get(framework_id)
        if framework is None:
            info = framework_info or pb.FrameworkInfo(id=framework_id, name="(recovered)")
            framework = FrameworkRecord(info=info, registered_time=self.m.now())
            framework.disconnected_time = self.m.now()
            state.frameworks[info.id] = framework
            self.m.allocator.add_framework(info.id, framework.roles, active=False)
        record = framework.tasks.get(task_id) or framework.unreachable_tasks.pop(task_id, None)
        known = record is not None
        if record is None:
            record = fresh
        else:
            record.latest_state = fresh.latest_state
            if fresh.status is not None:
                record.status, record.state = fresh.status, fresh.state
        framework.tasks[task_id] = record
        agent.tasks[(framework_id, task_id)] = record
        # Operators see tasks taken over after a failover (or back from a partition).
        if known:
            self.m.events.task_updated(record)
        else:
            self.m.events.task_added(record)
        latest = fresh.latest_state
        if was_unreachable and not is_terminal(latest):
            if framework.partition_aware:
                status = self.m.master_status(
                    task_id,
                    agent.id,
                    framework.id,
                    latest,
                    Reason.REASON_UNSPECIFIED,
                    "the task's agent re-registered",
                )
                self.m.send_update(framework, status)
            else:
                # The framework was told TASK_LOST; it must not find the task running.
                self.m.spawn(agent.link.kill_task(framework.id, task_id, None))

    # ---------------------------------------------------------------- heartbeats

    def heartbeat(self, request: apb.HeartbeatRequest) -> apb.HeartbeatResponse:
        agent = self.m.state.agents.get(request.agent_id)
        if agent is None:
            return apb.HeartbeatResponse(reregister=True)
        check_owner("agent", agent.id, agent.owner)
        self.heard_from(agent)
        return apb.HeartbeatResponse()

    def heard_from(self, agent: AgentRecord) -> None:
        """The agent spoke to us: it is alive (and offered again if a launch could not
        reach it)."""
        agent.last_seen = time.monotonic()
        if not agent.connected:
            agent.connected = True
            self.m.allocator.set_agent_reachable(agent.id, True)
            self.m.spawn(agent.link.reconnect())
            self.m.request_allocation()
            self.m.events.agent_updated(agent)
            log.info("agent %s is heard from again: offering its resources", agent.id)

    def unreachable_link(self, agent: AgentRecord, why: str) -> None:
        """A call to the agent could not connect (it died, or its port is closed): stop
        offering its resources (each launch there would fail at once) until it speaks
        again; it becomes unreachable if it stays silent past the ping timeout."""
        if self.m.state.agents.get(agent.id) is not agent or not agent.connected:
            return
        agent.connected = False
        self.m.allocator.set_agent_reachable(agent.id, False)
        for offer in self.m.offers.of_agent(agent.id):
            self.m.rescind(offer)
        self.m.events.agent_updated(agent)
        log.warning(
            "agent %s cannot be reached (%s): no offers until it is heard from", agent.id, why
        )

    # ---------------------------------------------------------------- sessions

    def session_started(self, agent_id: str, session: AgentSession) -> None:
        """The agent's acknowledgements and commands go on its new session from now on."""
        agent = self.m.state.agents.get(agent_id)
        if agent is not None:
            agent.link.session = session

    def session_ended(self, agent_id: str, session: AgentSession) -> None:
        """The agent's session closed (it died, restarted, or lost us): like a Mesos
        master seeing an agent's socket close, stop offering its resources until it is
        heard from again. Nothing of a newer session is touched."""
        agent = self.m.state.agents.get(agent_id)
        if agent is None or agent.link.session is not session:
            return
        agent.link.session = None
        if self.m.leading:
            self.unreachable_link(agent, "its session ended")

    def require_registered(self, agent_id: str) -> AgentRecord:
        agent = self.m.state.agents.get(agent_id)
        if agent is None:
            raise FailedPrecondition(f"agent {agent_id!r} is not registered; re-register first")
        check_owner("agent", agent.id, agent.owner)
        self.heard_from(agent)
        return agent

    async def health_loop(self) -> None:
        """Mark agents that stopped heartbeating unreachable."""
        timeout = self.m.config.agent_ping_timeout
        limit = timeout * self.m.config.max_agent_ping_timeouts
        # A scan is a pass over every agent: often enough to mark a silent agent within
        # a fiftieth of the limit, never more than twice a second.
        interval = max(min(timeout, 1.0) / 2, limit / 50)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            silent = [a for a in self.m.state.agents.values() if now - a.last_seen > limit]
            for agent in silent:
                log.warning(
                    "agent %s missed %d heartbeats: unreachable",
                    agent.id,
                    self.m.config.max_agent_ping_timeouts,
                )
            # Together: their registry writes go in one transaction, not one after another.
            await asyncio.gather(*(self.mark_unreachable(agent) for agent in silent))

    # ---------------------------------------------------------------- loss

    async def mark_unreachable(self, agent: AgentRecord) -> None:
        if self.m.state.agents.get(agent.id) is not agent:
            return
        self.m.state.unreachable_agents[agent.id] = agent.info
        self._start_removal_timer(agent.id)
        await self._detach(agent, unreachable=True)
        await self.m.registry.mark_agent_unreachable(agent.id, self.m.now())

    async def remove(self, agent: AgentRecord, reason: int, why: str) -> None:
        """The agent is gone for good (e.g. restarted with a new identity)."""
        if self.m.state.agents.get(agent.id) is not agent:
            return
        await self._detach(agent, unreachable=False, reason=reason, why=why)
        await self.m.registry.remove_agent(agent.id)

    async def _detach(
        self,
        agent: AgentRecord,
        *,
        unreachable: bool,
        reason: int = Reason.REASON_AGENT_DISCONNECTED,
        why: str = "agent is unreachable",
        gone_state: int = pb.TASK_GONE,
    ) -> None:
        state = self.m.state
        del state.agents[agent.id]
        self._forget_address(agent.id, agent.link.address)
        self.m.maintenance.agent_detached(agent, unreachable)
        self.m.events.agent_removed(agent.id, why)
        for offer in self.m.offers.of_agent(agent.id):
            # The agent is gone from state already, so nothing returns to the allocator.
            self.m.rescind(offer)
        self.m.allocator.remove_agent(agent.id)
        for task in list(agent.tasks.values()):
            task.resources_recovered = True  # the allocator forgot the agent already
            framework = state.frameworks.get(task.framework_id)
            self._report_lost(task, framework, unreachable, reason, why, gone_state)
        for framework in state.frameworks.values():
            if framework.stream is not None:
                event = spb.Event(type=spb.Event.FAILURE)
                event.failure.agent_id = agent.id
                framework.stream.send(event)
        await agent.link.close()

    def _report_lost(
        self,
        task: TaskRecord,
        framework: FrameworkRecord | None,
        unreachable: bool,
        reason: int,
        why: str,
        gone_state: int,
    ) -> None:
        if framework is not None and unreachable and framework.partition_aware:
            status = self.m.master_status(
                task.task_id, task.agent_id, task.framework_id, pb.TASK_UNREACHABLE, reason, why
            )
            task.status, task.latest_state = status, pb.TASK_UNREACHABLE
            framework.tasks.pop(task.task_id, None)
            framework.unreachable_tasks[task.task_id] = task
            self.m.events.task_updated(task, status)
            self.m.send_update(framework, status)
            return
        state = (
            pb.TASK_LOST
            if unreachable or framework is None or not framework.partition_aware
            else gone_state
        )
        status = self.m.master_status(
            task.task_id, task.agent_id, task.framework_id, state, reason, why
        )
        self.m.tasks.finish(task, status)


def _address(info: pb.AgentInfo) -> str:
    """Where the master calls the agent."""
    return f"{info.hostname}:{info.port}"
