"""The operator's views of the master's state: GetState, GetAgents, GetTasks, GetRoles.

Pure functions of the master's records; nothing here changes state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from mesospy.allocator.roles import ancestors
from mesospy.master.errors import InvalidArgument
from mesospy.master.quota import config_of
from mesospy.master.state import AgentRecord, FrameworkRecord, TaskRecord
from mesospy.resources import Resources
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

if TYPE_CHECKING:
    from mesospy.master.master import Master

DEFAULT_PAGE = 1000


def _in_use(tasks: Iterable[TaskRecord]) -> Resources:
    return Resources.total(t.resources for t in tasks if not t.resources_recovered)


def agent_state(master: Master, agent: AgentRecord) -> opb.AgentState:
    """One agent as operators see it, with what is used and offered on it."""
    held = [t.resources for t in agent.tasks.values() if not t.resources_recovered]
    item = opb.AgentState(
        agent_info=agent.info,
        active=agent.active and agent.connected,  # its resources are offered
        registered_time=agent.registered_time,
        active_tasks=len(held),
    )
    item.used_resources.extend(Resources.total(held).to_proto())
    offered = Resources.total(o.resources for o in master.offers.of_agent(agent.id))
    item.offered_resources.extend(offered.to_proto())
    drain = master.maintenance.drain_of(agent.id)
    if drain is not None:
        item.drain_state = drain.state  # type: ignore[assignment]
        item.drain_started_time = drain.started
        if drain.max_grace_period is not None:
            item.max_grace_period_seconds = drain.max_grace_period
    return item


def framework_state(master: Master, framework: FrameworkRecord) -> opb.FrameworkState:
    """One framework as operators see it, with what it uses and is offered."""
    entry = opb.FrameworkState(
        framework_info=framework.info,
        active=framework.connected,
        connected=framework.connected,
        registered_time=framework.registered_time,
        active_tasks=len(framework.tasks) + len(framework.unreachable_tasks),
    )
    entry.used_resources.extend(_in_use(framework.tasks.values()).to_proto())
    offered = Resources.total(o.resources for o in master.offers.of_framework(framework.id))
    entry.offered_resources.extend(offered.to_proto())
    return entry


def _active_tasks(master: Master) -> Iterator[TaskRecord]:
    for framework in master.state.frameworks.values():
        yield from framework.tasks.values()
        yield from framework.unreachable_tasks.values()


def state_snapshot(master: Master) -> opb.GetStateResponse:
    """Everything GetState reports, built from the master's records."""
    state = master.state
    response = opb.GetStateResponse(master_info=master.info)
    response.offers.extend(o.offer for o in master.offers)
    response.tasks.extend(t.to_proto() for t in _active_tasks(master))
    response.agents.extend(agent_state(master, a) for a in state.agents.values())
    response.frameworks.extend(framework_state(master, f) for f in state.frameworks.values())
    response.completed_tasks.extend(state.completed_tasks)
    response.unreachable_agents.extend(state.unreachable_agents.values())
    response.gone_agents.extend(sorted(master.agents.gone))
    return response


def agents_view(master: Master) -> opb.GetAgentsResponse:
    state = master.state
    return opb.GetAgentsResponse(
        agents=[agent_state(master, a) for a in state.agents.values()],
        unreachable_agents=state.unreachable_agents.values(),
        gone_agents=sorted(master.agents.gone),
    )


def frameworks_view(master: Master) -> opb.GetFrameworksResponse:
    state = master.state
    return opb.GetFrameworksResponse(
        frameworks=[framework_state(master, f) for f in state.frameworks.values()],
        removed_frameworks=sorted(state.removed_frameworks),
    )


def tasks_view(master: Master, request: opb.GetTasksRequest) -> opb.GetTasksResponse:
    """The tasks matching the request's filters, one page of them."""
    try:
        start = int(request.page_token or "0")
    except ValueError:
        start = -1
    if start < 0:
        raise InvalidArgument(
            f"page_token {request.page_token!r} is not one this master gave out; "
            "pass the next_page_token of the previous answer"
        )
    limit = request.limit or DEFAULT_PAGE
    states = set(request.states)
    unknown = [s for s in states if s not in pb.TaskState.values() or s == 0]
    if unknown:
        raise InvalidArgument(f"unknown task states {unknown}; use e.g. TASK_RUNNING")
    candidates: Iterable[pb.Task] = (t.to_proto() for t in _active_tasks(master))
    if request.include_completed:
        candidates = [*candidates, *master.state.completed_tasks]
    matching = [
        t
        for t in candidates
        if (not request.framework_id or t.framework_id == request.framework_id)
        and (not request.agent_id or t.agent_id == request.agent_id)
        and (not request.task_id or t.task_id == request.task_id)
        and (not states or t.state in states)
    ]
    page = matching[start : start + limit]
    more = start + limit < len(matching)
    return opb.GetTasksResponse(
        tasks=page, next_page_token=str(start + limit) if more else "", total=len(matching)
    )


def roles_view(master: Master) -> opb.GetRolesResponse:
    """Every role in use (by a framework, a task, a weight or a quota) and the parents of
    those, with its weight, allocation, quota and what counts towards the quota."""
    weights = master.registry.weights()
    quotas = master.allocator.quotas()
    roles: dict[str, opb.Role] = {}

    def role(name: str) -> opb.Role:
        if name not in roles:
            roles[name] = opb.Role(name=name, weight=weights.get(name, 1.0))
        return roles[name]

    allocated: dict[str, Resources] = {}
    offered: dict[str, Resources] = {}
    for framework in master.state.frameworks.values():
        for name in framework.roles:
            role(name).frameworks.append(framework.id)
    for task in _active_tasks(master):
        role(task.role).active_tasks += 1
        if not task.resources_recovered:
            allocated[task.role] = allocated.get(task.role, Resources()) + task.resources
    for offer in master.offers:
        role(offer.role)
        offered[offer.role] = offered.get(offer.role, Resources()) + offer.resources
    for name in [*weights, *quotas]:
        role(name)
    for name in list(roles):
        for parent in ancestors(name)[:-1]:
            role(parent)
    for name, item in roles.items():
        used = allocated.get(name, Resources()) + offered.get(name, Resources())
        item.allocated.extend(used.to_proto())
        item.offered.extend(offered.get(name, Resources()).to_proto())
        if name in quotas:
            item.quota.CopyFrom(config_of(name, quotas[name]))
        item.consumed.extend(master.allocator.role_consumed(name).to_proto())
    return opb.GetRolesResponse(roles=[roles[n] for n in sorted(roles)])
