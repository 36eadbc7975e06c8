"""The operator's view of the master's state (GetState)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesospy.resources import Resources
from mesospy.v1 import operator_pb2 as opb

if TYPE_CHECKING:
    from mesospy.master.master import Master


def state_snapshot(master: Master) -> opb.GetStateResponse:
    """Everything GetState reports, built from the master's records."""
    state = master.state
    response = opb.GetStateResponse(master_info=master.info)
    offered: dict[tuple[str, str], Resources] = {}
    for offer in master.offers:
        response.offers.append(offer.offer)
        for key in ((offer.agent_id, ""), ("", offer.framework_id)):
            offered[key] = offered.get(key, Resources()) + offer.resources
    used: dict[tuple[str, str], Resources] = {}
    for framework in state.frameworks.values():
        for task in framework.tasks.values():
            response.tasks.append(task.to_proto())
            if not task.resources_recovered:
                for key in ((task.agent_id, ""), ("", framework.id)):
                    used[key] = used.get(key, Resources()) + task.resources
        response.tasks.extend(t.to_proto() for t in framework.unreachable_tasks.values())
    for agent in state.agents.values():
        item = response.agents.add(
            agent_info=agent.info, active=agent.active, registered_time=agent.registered_time
        )
        item.used_resources.extend(used.get((agent.id, ""), Resources()).to_proto())
        item.offered_resources.extend(offered.get((agent.id, ""), Resources()).to_proto())
    for framework in state.frameworks.values():
        entry = response.frameworks.add(
            framework_info=framework.info,
            active=framework.connected,
            connected=framework.connected,
            registered_time=framework.registered_time,
        )
        entry.used_resources.extend(used.get(("", framework.id), Resources()).to_proto())
        entry.offered_resources.extend(offered.get(("", framework.id), Resources()).to_proto())
    response.completed_tasks.extend(state.completed_tasks)
    response.unreachable_agents.extend(state.unreachable_agents.values())
    return response
