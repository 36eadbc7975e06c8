"""Maintenance of agents by operators: drain, deactivate, reactivate, mark gone.

A deactivated agent keeps its tasks but gets no new offers. Draining deactivates the agent
and kills its tasks (as Mesos does, with each task's grace period capped at the drain's
``max_grace_period``); once no task is left the agent is DRAINED, and stays out of offers
until an operator reactivates it.

Both are kept in the registry (``set_agent_maintenance``), so they survive a master restart
or failover: ``recover`` holds them until each agent re-registers (``agent_readmitted``), as
it does for an agent that comes back from being unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesospy.master.errors import FailedPrecondition, InvalidArgument, NotFound
from mesospy.master.state import AgentRecord
from mesospy.master.validation import id_problem
from mesospy.registry_api import AgentMaintenance
from mesospy.task_states import is_terminal
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)
Drain = opb.AgentState.DrainState
# How often a draining agent is checked for remaining tasks.
DRAIN_POLL = 0.1


@dataclass
class DrainInfo:
    """An agent being drained (or drained)."""

    state: int
    started: float
    max_grace_period: float | None
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class MaintenanceHandler:
    """Carries out the operator's maintenance calls for the master."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self._drains: dict[str, DrainInfo] = {}
        self._kills: set[asyncio.Task[None]] = set()
        # Holds on agents not registered now (recovered from the registry, or unreachable),
        # put back in force when they re-register.
        self._held: dict[str, AgentMaintenance] = {}

    def drain_of(self, agent_id: str) -> DrainInfo | None:
        return self._drains.get(agent_id)

    # ---------------------------------------------------------------- across failovers

    def recover(self, held: dict[str, AgentMaintenance]) -> None:
        """Take in the registry's holds (master start); they apply as agents re-register."""
        self._held.update(held)

    def agent_readmitted(self, agent: AgentRecord) -> None:
        """A re-registering agent was added afresh (after a failover, or unreachable):
        put its hold back. Called once its tasks are adopted, so a drain kills them."""
        held = self._held.pop(agent.id, None)
        if held is None:
            return
        self._deactivate(agent)
        if held.state in ("draining", "drained"):
            started = held.started if held.started is not None else self.m.now()
            state = Drain.DRAINED if held.state == "drained" else Drain.DRAINING
            drain = DrainInfo(state, started, held.max_grace_period)
            self._drains[agent.id] = drain
            self._kill_tasks(agent, held.max_grace_period)
            drain.watcher = asyncio.get_running_loop().create_task(self._watch(agent.id, drain))
        self.m.events.agent_updated(agent)
        log.info("agent %s is back under maintenance (%s)", agent.id, held.state)

    def agent_detached(self, agent: AgentRecord, unreachable: bool) -> None:
        """The agent left the registered ones: keep its hold for its return if it may."""
        drain = self._drains.pop(agent.id, None)
        if drain is not None and drain.watcher is not None:
            drain.watcher.cancel()
        if not unreachable:
            return
        if drain is not None:
            state = "drained" if drain.state == Drain.DRAINED else "draining"
            self._held[agent.id] = AgentMaintenance(state, drain.started, drain.max_grace_period)
        elif not agent.active:
            self._held[agent.id] = AgentMaintenance("deactivated")

    def forget(self, agent_id: str) -> None:
        """The agent is gone for good: drop any hold on it."""
        self._held.pop(agent_id, None)
        drain = self._drains.pop(agent_id, None)
        if drain is not None and drain.watcher is not None:
            drain.watcher.cancel()

    def _agent(self, agent_id: str) -> AgentRecord:
        if p := id_problem("agent_id", agent_id):
            raise InvalidArgument(p)
        agent = self.m.state.agents.get(agent_id)
        if agent is not None:
            return agent
        if agent_id in self.m.agents.gone:
            raise FailedPrecondition(f"agent {agent_id!r} was marked gone")
        if agent_id in self.m.state.unreachable_agents:
            raise FailedPrecondition(
                f"agent {agent_id!r} is unreachable; wait for it to come back, or mark it gone"
            )
        raise NotFound(f"agent {agent_id!r} is unknown to the master (see `mesospy agents`)")

    # ---------------------------------------------------------------- activation

    async def deactivate(self, agent_id: str) -> AgentRecord:
        """Stop offering the agent's resources; outstanding offers are rescinded."""
        agent = self._agent(agent_id)
        self._deactivate(agent)
        self.m.events.agent_updated(agent)
        if agent_id not in self._drains:  # a drain's own record says more
            await self.m.registry.set_agent_maintenance(agent_id, AgentMaintenance("deactivated"))
        return agent

    def _deactivate(self, agent: AgentRecord) -> None:
        if agent.active:
            agent.active = False
            self.m.allocator.deactivate_agent(agent.id)
        for offer in self.m.offers.of_agent(agent.id):
            self.m.rescind(offer)

    async def reactivate(self, agent_id: str) -> AgentRecord:
        """Offer the agent's resources again; ends a drain (killed tasks stay killed)."""
        agent = self._agent(agent_id)
        drain = self._drains.pop(agent_id, None)
        if drain is not None and drain.watcher is not None:
            drain.watcher.cancel()
        if not agent.active:
            agent.active = True
            self.m.allocator.activate_agent(agent.id)
            self.m.request_allocation()
        self.m.events.agent_updated(agent)
        await self.m.registry.set_agent_maintenance(agent_id, None)
        return agent

    # ---------------------------------------------------------------- drain

    async def drain(self, agent_id: str, max_grace_period: float | None) -> AgentRecord:
        """Deactivate the agent and kill its tasks; it becomes DRAINED when none is left."""
        if max_grace_period is not None and not max_grace_period >= 0:
            raise InvalidArgument(
                f"max_grace_period_seconds is {max_grace_period}; it must be a number >= 0"
            )
        agent = self._agent(agent_id)
        if agent_id in self._drains:
            return agent  # draining twice is a no-op, so a retried call is harmless
        self._deactivate(agent)
        drain = DrainInfo(Drain.DRAINING, self.m.now(), max_grace_period)
        self._drains[agent_id] = drain
        self._kill_tasks(agent, max_grace_period)
        drain.watcher = asyncio.get_running_loop().create_task(self._watch(agent_id, drain))
        self.m.events.agent_updated(agent)
        log.info("agent %s draining (max grace period %s)", agent_id, max_grace_period)
        await self.m.registry.set_agent_maintenance(
            agent_id, AgentMaintenance("draining", drain.started, max_grace_period)
        )
        return agent

    def _kill_tasks(self, agent: AgentRecord, max_grace_period: float | None) -> None:
        """Kill the agent's unfinished tasks, their grace periods capped."""
        policy = (
            pb.KillPolicy(grace_period_seconds=max_grace_period)
            if max_grace_period is not None
            else None
        )
        loop = asyncio.get_running_loop()
        for task in list(agent.tasks.values()):
            if not is_terminal(task.latest_state):
                own = task.info.kill_policy
                capped = policy
                if policy is not None and own.HasField("grace_period_seconds"):
                    grace = min(own.grace_period_seconds, policy.grace_period_seconds)
                    capped = pb.KillPolicy(grace_period_seconds=grace)
                kill = loop.create_task(
                    agent.link.kill_task(task.framework_id, task.task_id, capped)
                )
                self._kills.add(kill)  # keep a reference: the loop holds only a weak one
                kill.add_done_callback(self._kills.discard)

    async def _watch(self, agent_id: str, drain: DrainInfo) -> None:
        while True:
            agent = self.m.state.agents.get(agent_id)
            if agent is None:  # removed or unreachable: nothing left to drain
                self._drains.pop(agent_id, None)
                return
            if all(is_terminal(t.latest_state) for t in agent.tasks.values()):
                drain.state = Drain.DRAINED
                self.m.events.agent_updated(agent)
                log.info("agent %s drained", agent_id)
                await self.m.registry.set_agent_maintenance(
                    agent_id, AgentMaintenance("drained", drain.started, drain.max_grace_period)
                )
                return
            await asyncio.sleep(DRAIN_POLL)

    # ---------------------------------------------------------------- gone

    async def mark_gone(self, agent_id: str) -> None:
        """The agent will never come back: its tasks are GONE_BY_OPERATOR, its id is banned."""
        if p := id_problem("agent_id", agent_id):
            raise InvalidArgument(p)
        state = self.m.state
        agent = state.agents.get(agent_id)
        if agent is None and agent_id not in state.unreachable_agents:
            if agent_id in self.m.agents.gone:
                return  # already gone: a retried call is harmless
            raise NotFound(f"agent {agent_id!r} is unknown to the master (see `mesospy agents`)")
        self.forget(agent_id)
        if agent is not None:
            # Its processes may still run: ask the agent to stop them before cutting it off.
            frameworks = {t.framework_id for t in agent.tasks.values()}
            for framework_id in frameworks:
                with contextlib.suppress(Exception):
                    await agent.link.shutdown_framework(framework_id)
        await self.m.agents.mark_gone(agent_id, "marked gone by an operator", by_operator=True)
        log.info("agent %s marked gone by an operator", agent_id)
