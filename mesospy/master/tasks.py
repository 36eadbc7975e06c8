"""Tasks through the master: launch from offers, status updates, acks, kill, reconcile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from mesospy.master.agent_link import SessionLost, could_not_connect
from mesospy.master.errors import InvalidArgument
from mesospy.master.offers import OfferRecord
from mesospy.master.reservations import RESOURCE_OPERATIONS
from mesospy.master.state import AgentRecord, FrameworkRecord, TaskRecord
from mesospy.master.validation import (
    group_lifecycle_problem,
    id_problem,
    kill_policy_problem,
    refuse_seconds_problem,
    task_problem,
)
from mesospy.operations import OperationError, ResourceOperation, apply_operation
from mesospy.resources import Resources
from mesospy.task_states import STATUS_UUID_BYTES, is_terminal
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)
Reason = pb.TaskStatus


_OPERATIONS = (spb.Call.Operation.LAUNCH, spb.Call.Operation.LAUNCH_GROUP)


@dataclass
class _LaunchUnit:
    """Tasks that launch together or not at all: one LAUNCH task, or a task group (its
    tasks then carry the group's executor)."""

    tasks: list[pb.TaskInfo]
    group: bool = False
    problem: str | None = None  # found in the call's shape

    @property
    def executor(self) -> pb.ExecutorInfo | None:
        first = self.tasks[0] if self.tasks else None
        return first.executor if first is not None and first.HasField("executor") else None


def _launch_units(operations: Iterable[spb.Call.Operation]) -> list[_LaunchUnit]:
    units: list[_LaunchUnit] = []
    for op in operations:
        if op.type == spb.Call.Operation.LAUNCH_GROUP:
            group = op.launch_group
            tasks = []
            problem = None
            for given in group.task_group.tasks:
                if given.HasField("executor"):
                    problem = (
                        f"task {given.task_id!r} names an executor of its own; the group's "
                        "executor (launch_group.executor) runs every task of a group"
                    )
                task = pb.TaskInfo()
                task.CopyFrom(given)
                task.executor.CopyFrom(group.executor)
                tasks.append(task)
            if problem is None:
                problem = group_lifecycle_problem(tasks)
            units.append(_LaunchUnit(tasks, group=True, problem=problem))
        else:
            units.extend(_LaunchUnit([t]) for t in op.launch.task_infos)
    return units


class TaskHandler:
    """Carries out the task-related calls of frameworks and updates from agents."""

    def __init__(self, master: Master) -> None:
        self.m = master
        # Launches still on their way to an agent, so a KILL can wait for them.
        self._launching: dict[tuple[str, str], asyncio.Future[None]] = {}
        # Tasks launched and ended since this master started (the dashboard's task rate).
        self.launched = 0
        self.ended = 0

    # ---------------------------------------------------------------- ACCEPT

    def accept(self, framework: FrameworkRecord, accept: spb.Call.Accept) -> None:
        offers = self._accepted_offers(framework, accept)
        steps = self._steps(framework, accept)
        units = [step for step in steps if isinstance(step, _LaunchUnit)]
        tasks = [t for unit in units for t in unit.tasks]
        refuse = self._refuse_seconds(accept.filters)
        stale = [oid for oid, record in offers.items() if record is None]
        if stale:
            # The offers were rescinded or used in the meantime: a normal race, so the
            # tasks are dropped (not an error) and the still-valid offers are recovered.
            for record in offers.values():
                if record is not None:
                    self.m.rescind(record, notify=False)
            for task in tasks:
                self._refuse_task(
                    framework,
                    task,
                    pb.TASK_DROPPED,
                    Reason.REASON_INVALID_OFFERS,
                    f"offer {stale[0]!r} is no longer valid (rescinded, expired or used)",
                )
            return
        records = [r for r in offers.values() if r is not None]
        agent_id, role = records[0].agent_id, records[0].role
        offered = Resources()
        for record in records:
            offered = offered + record.resources
        agent = self.m.state.agents.get(agent_id)
        operations = [step for step in steps if isinstance(step, ResourceOperation)]
        if operations and agent is not None:
            # A bad operation refuses the whole call, before anything changes.
            self.m.reservations.check(offered, agent.total, operations)
        for record in records:
            self.m.offers.remove(record.id)
        remaining = converted = offered
        total = agent.total if agent is not None else Resources()
        seen: set[str] = set()
        new_executors: dict[str, pb.ExecutorInfo] = {}
        launches: list[tuple[list[pb.TaskInfo], bool]] = []
        for step in steps:
            if isinstance(step, ResourceOperation):
                if agent is not None:
                    remaining, converted, total = self._convert(
                        framework, step, remaining, converted, total
                    )
                continue
            unit = step
            # A unit (one LAUNCH task, or one LAUNCH_GROUP's tasks) launches whole or not
            # at all; a problem with any of its tasks refuses each of them.
            problem, needs, executor_resources = self._unit_problem(
                framework, agent, agent_id, unit, seen, new_executors
            )
            if problem is None and not remaining.contains(needs):
                what = f"task {unit.tasks[0].task_id!r}" if not unit.group else "the task group"
                problem = f"{what} asks for {needs} but only {remaining} is left of the offers"
            if problem is not None or agent is None:
                prefix = "task group: " if unit.group else ""
                for task in unit.tasks:
                    self._refuse_task(
                        framework,
                        task,
                        pb.TASK_ERROR,
                        Reason.REASON_TASK_INVALID,
                        prefix + (problem or f"agent {agent_id!r} is gone"),
                    )
                continue
            remaining = remaining - needs
            executor = unit.executor
            if executor is not None:
                # The executor's share is its own, given back when it exits.
                new_executors[executor.executor_id] = executor
                self.m.executors.launched(framework, agent, role, executor, executor_resources)
            launched = []
            for task in unit.tasks:
                seen.add(task.task_id)
                resources = Resources.from_proto(task.resources)
                launched.append(self._add_task(framework, agent, role, task, resources))
            launches.append((launched, unit.group))
        if agent is not None and total != agent.total:
            # Before the launches: the agent gets its new resources (and volumes) first.
            self.m.reservations.converted_offer(framework, agent, role, offered, converted, total)
        self.m.recover(framework.id, agent_id, role, remaining, refuse)
        if agent is None:
            return
        single = [task for launched, group in launches if not group for task in launched]
        for launched, group in launches:
            if group:
                self.m.spawn(self._launch(framework, agent, launched, group=True))
        if single:  # the LAUNCH tasks, sent together
            self.m.spawn(self._launch(framework, agent, single))

    def _steps(
        self, framework: FrameworkRecord, accept: spb.Call.Accept
    ) -> list[_LaunchUnit | ResourceOperation]:
        """The call's operations in order: launch units and resource operations (the
        latter checked for who makes them; InvalidArgument if they may not)."""
        steps: list[_LaunchUnit | ResourceOperation] = []
        for op in accept.operations:
            if op.type in RESOURCE_OPERATIONS:
                steps.append(self.m.reservations.framework_operation(framework, op))
            else:
                steps.extend(_launch_units([op]))
        return steps

    def _convert(
        self,
        framework: FrameworkRecord,
        op: ResourceOperation,
        remaining: Resources,
        converted: Resources,
        total: Resources,
    ) -> tuple[Resources, Resources, Resources]:
        """Apply one operation to what is left of the offers, to the offers as a whole
        and to the agent's total (all checked beforehand; only a LAUNCH earlier in the
        same call can have used what it needs, and then it is skipped)."""
        try:
            return (
                apply_operation(remaining, op),
                apply_operation(converted, op),
                apply_operation(total, op),
            )
        except OperationError as exc:
            log.warning("framework %s: %s skipped: %s", framework.id, op.kind, exc)
            return remaining, converted, total

    def _unit_problem(
        self,
        framework: FrameworkRecord,
        agent: AgentRecord | None,
        agent_id: str,
        unit: _LaunchUnit,
        seen: set[str],
        new_executors: dict[str, pb.ExecutorInfo],
    ) -> tuple[str | None, Resources, Resources]:
        """What is wrong with a unit, what it needs of the offers, and of that, the share
        of an executor it starts."""
        needs = Resources()
        ids: set[str] = set()
        if unit.group and not unit.tasks:
            return "LAUNCH_GROUP has no tasks", needs, needs
        if unit.problem is not None:
            return unit.problem, needs, needs
        for task in unit.tasks:
            problem, resources = task_problem(task, agent_id, in_group=unit.group)
            if problem is None and (
                task.task_id in seen
                or task.task_id in ids
                or task.task_id in framework.tasks
                or task.task_id in framework.unreachable_tasks
            ):
                problem = f"task id {task.task_id!r} is already in use by this framework"
            if problem is not None or resources is None:
                return problem or "invalid task", needs, needs
            ids.add(task.task_id)
            needs = needs + resources
        executor_resources = Resources()
        if unit.executor is not None and agent is not None:
            problem, executor_resources = self.m.executors.check_launch(
                framework, agent, unit.tasks[0], new_executors
            )
            if problem is not None:
                return problem, needs, executor_resources
        return None, needs + executor_resources, executor_resources

    # ---------------------------------------------------------------- DECLINE

    def decline(self, framework: FrameworkRecord, decline: spb.Call.Decline) -> None:
        if not decline.offer_ids:
            raise InvalidArgument("DECLINE needs at least one offer id")
        if p := refuse_seconds_problem(decline.filters):
            raise InvalidArgument(p)
        refuse = self._refuse_seconds(decline.filters)
        for offer_id in decline.offer_ids:
            record = self.m.offers.get(offer_id)
            if record is None or record.framework_id != framework.id:
                continue  # already rescinded or used: declining it is a no-op, as in Mesos
            self.m.offers.remove(offer_id)
            self.m.recover(framework.id, record.agent_id, record.role, record.resources, refuse)

    def _accepted_offers(
        self, framework: FrameworkRecord, accept: spb.Call.Accept
    ) -> dict[str, OfferRecord | None]:
        """The call's offers (None for unknown ids), after checking the call's shape."""
        if not accept.offer_ids:
            raise InvalidArgument("ACCEPT needs at least one offer id")
        if len(set(accept.offer_ids)) != len(accept.offer_ids):
            raise InvalidArgument(f"ACCEPT names an offer twice: {list(accept.offer_ids)}")
        if p := refuse_seconds_problem(accept.filters):
            raise InvalidArgument(p)
        for op in accept.operations:
            if op.type not in _OPERATIONS and op.type not in RESOURCE_OPERATIONS:
                name = (
                    spb.Call.Operation.Type.Name(op.type)
                    if op.type in spb.Call.Operation.Type.values()
                    else str(op.type)
                )
                raise InvalidArgument(
                    f"operation type {name} is not supported; use LAUNCH, LAUNCH_GROUP, "
                    "RESERVE, UNRESERVE, CREATE or DESTROY"
                )
            if op.type == spb.Call.Operation.LAUNCH_GROUP and not op.launch_group.task_group.tasks:
                raise InvalidArgument("LAUNCH_GROUP needs at least one task in task_group.tasks")
        offers = {oid: self.m.offers.get(oid) for oid in accept.offer_ids}
        agents = {r.agent_id for r in offers.values() if r is not None}
        for oid, record in offers.items():
            if record is not None and record.framework_id != framework.id:
                raise InvalidArgument(f"offer {oid!r} was not made to framework {framework.id!r}")
        if len(agents) > 1:
            raise InvalidArgument(
                f"offers {list(accept.offer_ids)} come from different agents {sorted(agents)}; "
                "accept the offers of one agent per call"
            )
        return offers

    def _refuse_seconds(self, filters: pb.Filters) -> float:
        if filters.HasField("refuse_seconds"):
            return filters.refuse_seconds
        return self.m.config.default_refuse_seconds

    def _refuse_task(
        self, framework: FrameworkRecord, task: pb.TaskInfo, state: int, reason: int, message: str
    ) -> None:
        status = self.m.master_status(
            task.task_id, task.agent_id, framework.id, state, reason, message
        )
        self.m.send_update(framework, status)

    def _add_task(
        self,
        framework: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        task: pb.TaskInfo,
        resources: Resources,
    ) -> pb.TaskInfo:
        info = pb.TaskInfo()
        info.CopyFrom(task)
        info.agent_id = agent.id
        record = TaskRecord(info, framework.id, agent.id, role, resources)
        framework.tasks[info.task_id] = record
        agent.tasks[(framework.id, info.task_id)] = record
        self.launched += 1
        self.m.events.task_added(record)
        return info

    def launching(self, key: tuple[str, str]) -> bool:
        """Whether the (framework id, task id) launch is still on its way to the agent."""
        return key in self._launching

    async def _launch(
        self,
        framework: FrameworkRecord,
        agent: AgentRecord,
        tasks: list[pb.TaskInfo],
        group: bool = False,
    ) -> None:
        keys = [(framework.id, t.task_id) for t in tasks]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._launching[key] = done
        generation = agent.link.generation
        try:
            await agent.link.run_tasks(framework.info, tasks, group)
        except (grpc.aio.AioRpcError, SessionLost) as exc:
            if isinstance(exc, SessionLost):  # never written: the agent did not get them
                state, why = pb.TASK_DROPPED, str(exc)
                # Not offered again until it is back (as when its session's end is seen).
                self.m.agents.session_ended(agent.id, exc.session)
            else:
                # UNAVAILABLE: the agent never got the tasks. Anything else: it may have.
                never_arrived = exc.code() == grpc.StatusCode.UNAVAILABLE
                state = pb.TASK_DROPPED if never_arrived else pb.TASK_LOST
                why = exc.details() or exc.code().name
                if could_not_connect(exc) and agent.link.generation == generation:
                    # (Not if the agent was heard from, and a new channel begun, meanwhile.)
                    self.m.agents.unreachable_link(agent, why)
            for task in tasks:
                record = framework.tasks.get(task.task_id)
                if record is not None and record.latest_state == pb.TASK_STAGING:
                    status = self.m.master_status(
                        task.task_id,
                        agent.id,
                        framework.id,
                        state,
                        Reason.REASON_AGENT_DISCONNECTED,
                        f"could not send the task to agent {agent.id}: {why}",
                    )
                    self.finish(record, status)
        finally:
            for key in keys:
                self._launching.pop(key, None)
            done.set_result(None)

    # ---------------------------------------------------------------- terminal bookkeeping

    def finish(self, task: TaskRecord, status: pb.TaskStatus, notify: bool = True) -> None:
        """The master ends a task itself (lost agent, failed launch, framework removed)."""
        task.status = status
        task.state = task.latest_state = status.state
        self._release(task)
        self._forget(task)
        self.m.events.task_updated(task, status)
        if notify and (framework := self.m.state.frameworks.get(task.framework_id)):
            self.m.send_update(framework, status)

    def _release(self, task: TaskRecord) -> None:
        if not task.resources_recovered:
            task.resources_recovered = True
            self.m.recover(task.framework_id, task.agent_id, task.role, task.resources)

    def _forget(self, task: TaskRecord) -> None:
        framework = self.m.state.frameworks.get(task.framework_id)
        if framework is not None:
            framework.tasks.pop(task.task_id, None)
            framework.unreachable_tasks.pop(task.task_id, None)
        agent = self.m.state.agents.get(task.agent_id)
        if agent is not None:
            agent.tasks.pop((task.framework_id, task.task_id), None)
        self.ended += 1
        self.m.state.completed_tasks.append(task.to_proto())

    # ---------------------------------------------------------------- updates from agents

    def update(self, agent: AgentRecord, updates: apb.StatusUpdates) -> None:
        for update in updates.updates:
            status = update.status
            framework = self.m.state.frameworks.get(update.framework_id)
            if framework is None:
                if update.framework_id in self.m.state.removed_frameworks:
                    # Nobody will acknowledge it: do it for the removed framework.
                    agent.link.acknowledge(update.framework_id, status.task_id, status.uuid)
                continue
            task = framework.tasks.get(status.task_id)
            if task is not None:
                task.status = status
                task.acknowledged = False
                task.state = status.state
                task.latest_state = update.latest_state or status.state
                if is_terminal(task.latest_state):
                    self._release(task)
                self.m.events.task_updated(task, status)
            self.m.send_update(framework, status)

    # ---------------------------------------------------------------- ACKNOWLEDGE

    def acknowledge(self, framework: FrameworkRecord, acks: list[spb.Call.Acknowledge]) -> None:
        for ack in acks:
            if p := id_problem("acknowledge.task_id", ack.task_id):
                raise InvalidArgument(p)
            if not ack.uuid:
                raise InvalidArgument(
                    f"acknowledgement of task {ack.task_id!r} has no uuid; only updates "
                    "with a uuid need acknowledging"
                )
            if len(ack.uuid) != STATUS_UUID_BYTES:
                # (Passed on, it would spoil the agent's whole batch of acknowledgements.)
                raise InvalidArgument(
                    f"acknowledgement of task {ack.task_id!r} has a uuid of {len(ack.uuid)} "
                    f"bytes; send back the {STATUS_UUID_BYTES}-byte uuid of the update"
                )
        for ack in acks:
            task = framework.tasks.get(ack.task_id)
            agent_id = task.agent_id if task is not None else ack.agent_id
            agent = self.m.state.agents.get(agent_id)
            if agent is not None:
                agent.link.acknowledge(framework.id, ack.task_id, ack.uuid)
            if task is not None and task.status is not None and task.status.uuid == ack.uuid:
                task.acknowledged = True
                if is_terminal(task.status.state):
                    self._forget(task)

    # ---------------------------------------------------------------- KILL

    def kill(self, framework: FrameworkRecord, kill: spb.Call.Kill) -> None:
        if p := id_problem("kill.task_id", kill.task_id):
            raise InvalidArgument(p)
        if p := kill_policy_problem(kill.kill_policy):
            raise InvalidArgument(p)
        task = framework.tasks.get(kill.task_id)
        if task is None:
            if kill.task_id not in framework.unreachable_tasks:
                self.m.send_update(
                    framework, self._unknown_status(framework, kill.task_id, kill.agent_id)
                )
            return
        policy = kill.kill_policy if kill.HasField("kill_policy") else None
        self.m.spawn(self._kill(task, policy))

    async def _kill(self, task: TaskRecord, policy: pb.KillPolicy | None) -> None:
        pending = self._launching.get((task.framework_id, task.task_id))
        if pending is not None:
            await pending  # the agent must know the task before it can kill it
        agent = self.m.state.agents.get(task.agent_id)
        if agent is not None:
            await agent.link.kill_task(task.framework_id, task.task_id, policy)

    def resend_unacknowledged(self, framework: FrameworkRecord) -> None:
        """After a (re-)subscription: send again what the framework has not acknowledged."""
        for task in framework.tasks.values():
            if task.status is not None and task.status.uuid and not task.acknowledged:
                self.m.send_update(framework, task.status)

    # ---------------------------------------------------------------- RECONCILE

    def reconcile(self, framework: FrameworkRecord, reconcile: spb.Call.Reconcile) -> None:
        if not reconcile.tasks:
            for task in [*framework.tasks.values(), *framework.unreachable_tasks.values()]:
                self.m.send_update(framework, self._reconciled_status(task))
            return
        for item in reconcile.tasks:
            if p := id_problem("reconcile.task_id", item.task_id):
                raise InvalidArgument(p)
        for item in reconcile.tasks:
            found = self.m.state.find_task(framework.id, item.task_id)
            if found is not None:
                self.m.send_update(framework, self._reconciled_status(found))
            elif item.agent_id in self.m.agents.recovering or (
                not item.agent_id and self.m.agents.recovering
            ):
                # The agent may still re-register with the task: answer once it has, or
                # once its time to re-register is up (Mesos does the same). Without an
                # agent id, wait for all recovering agents.
                waiting = self.m.agents.recovering.get(item.agent_id, self.m.agents.unplaced)
                waiting.append((framework.id, item.task_id))
            else:
                self.m.send_update(
                    framework, self._unknown_status(framework, item.task_id, item.agent_id)
                )

    def answer_deferred(self, agent_id: str, pending: list[tuple[str, str]]) -> None:
        """Answer reconciliations that waited for an agent to re-register or time out."""
        for framework_id, task_id in pending:
            framework = self.m.state.frameworks.get(framework_id)
            if framework is None or framework.stream is None:
                continue
            found = self.m.state.find_task(framework_id, task_id)
            status = (
                self._reconciled_status(found)
                if found is not None
                else self._unknown_status(framework, task_id, agent_id)
            )
            self.m.send_update(framework, status)

    def _reconciled_status(self, task: TaskRecord) -> pb.TaskStatus:
        status = pb.TaskStatus()
        if task.status is not None:
            status.CopyFrom(task.status)
        status.task_id, status.agent_id = task.task_id, task.agent_id
        status.framework_id = task.framework_id
        status.state = task.latest_state  # type: ignore[assignment]
        status.reason = Reason.REASON_RECONCILIATION
        status.source = Reason.SOURCE_MASTER
        status.uuid = b""
        status.message = "reconciliation: latest task state"
        return status

    def _unknown_status(
        self, framework: FrameworkRecord, task_id: str, agent_id: str
    ) -> pb.TaskStatus:
        if agent_id in self.m.state.unreachable_agents:
            state = pb.TASK_UNREACHABLE if framework.partition_aware else pb.TASK_LOST
            message = f"agent {agent_id!r} is unreachable"
        else:
            state = pb.TASK_UNKNOWN if framework.partition_aware else pb.TASK_LOST
            message = f"task {task_id!r} is unknown to the master"
        return self.m.master_status(
            task_id, agent_id, framework.id, state, Reason.REASON_RECONCILIATION, message
        )
