"""The registry's interface, shared by its backends (local file, ZooKeeper).

The master programs against ``Registry``; ``mesospy.master.registry.LocalRegistry`` and
``mesospy.zk.registry.ZooKeeperRegistry`` implement it. Reads come from memory (filled by
``load()``); each operation updates memory at once and then persists, so operations issued
back to back (even without awaiting the first) apply in order.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mesospy.v1 import common_pb2 as pb

AGENT_STATES = ("admitted", "unreachable", "gone")

# A role's quota as stored: {"guarantees": {"cpus": 4.0}, "limits": {"cpus": 8.0, ...}}.
QuotaDoc = dict[str, dict[str, float]]
MAINTENANCE_STATES = ("deactivated", "draining", "drained")


@dataclass(frozen=True)
class AgentMaintenance:
    """An operator's hold on an agent (deactivated, or drained), kept across failovers."""

    state: str  # one of MAINTENANCE_STATES
    started: float | None = None  # when the drain began
    max_grace_period: float | None = None  # the drain's cap on kill grace periods

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "started": self.started,
            "max_grace_period": self.max_grace_period,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AgentMaintenance:
        return cls(doc["state"], doc.get("started"), doc.get("max_grace_period"))


def encode_resources(resources: Sequence[pb.Resource]) -> list[str]:
    """An agent's checkpointed resources as kept in its registry entry."""
    return [base64.b64encode(r.SerializeToString()).decode() for r in resources]


def decode_resources(texts: Sequence[str]) -> list[pb.Resource]:
    return [pb.Resource.FromString(base64.b64decode(t)) for t in texts]


def kept_entry_fields(old: dict[str, Any] | None) -> dict[str, Any]:
    """What of an agent's entry outlives its re-admission: an operator's hold and the
    dynamic reservations and volumes made on it."""
    if not old:
        return {}
    return {key: old[key] for key in ("maintenance", "resources") if old.get(key)}


class Registry(Protocol):
    """What must outlive a master: admitted agents, frameworks, weights, quota."""

    def load(self) -> None:
        """Read the registry left by an earlier master (blocking: run it in a thread)."""

    def frameworks(self) -> list[tuple[pb.FrameworkInfo, float | None]]:
        """Recovered frameworks with the time they disconnected (None if connected)."""
        ...

    def agents(self, state: str) -> list[pb.AgentInfo]:
        """Agents in ``state``: "admitted", "unreachable" or "gone"."""
        ...

    def weights(self) -> dict[str, float]:
        """Role weights set by operators."""
        ...

    def quota(self) -> dict[str, QuotaDoc]:
        """Role quota set by operators, by role."""
        ...

    def maintenance(self) -> dict[str, AgentMaintenance]:
        """Admitted and unreachable agents under maintenance, by agent id."""
        ...

    def agent_resources(self) -> dict[str, list[pb.Resource]]:
        """The dynamic reservations and volumes of admitted and unreachable agents."""
        ...

    async def admit_agent(self, info: pb.AgentInfo) -> None: ...

    async def update_agent_resources(self, agent_id: str, resources: Sequence[pb.Resource]) -> None:
        """Record the agent's dynamic reservations and volumes (all of them)."""

    async def mark_agent_unreachable(self, agent_id: str, when: float) -> None: ...

    async def mark_agent_gone(self, agent_id: str) -> None: ...

    async def remove_agent(self, agent_id: str) -> None: ...

    async def set_agent_maintenance(
        self, agent_id: str, maintenance: AgentMaintenance | None
    ) -> None:
        """Record (None: clear) an operator's hold on an agent; it survives re-admission."""

    async def add_framework(self, info: pb.FrameworkInfo) -> None: ...

    async def mark_framework_disconnected(self, framework_id: str, when: float | None) -> None: ...

    async def remove_framework(self, framework_id: str) -> None: ...

    async def update_weights(self, weights: dict[str, float]) -> None: ...

    async def update_quota(self, changes: dict[str, QuotaDoc | None]) -> None:
        """Set the quota of roles (None removes a role's), in one write."""
