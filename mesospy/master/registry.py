"""The registry: what must outlive a master process.

Every change is a named operation (``admit_agent``, ``mark_agent_unreachable``,
``add_framework``, ...), applied to an in-memory document and then persisted. This module
holds the local-directory backend used by the embedded default: the whole document is
rewritten atomically (temp file, fsync, rename) off the event loop. Operations issued while
a write is in flight are persisted together by the next write (group commit), so a burst
of 10,000 agent registrations costs a handful of rewrites, not 10,000. The ZooKeeper
backend comes with high availability.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mesospy.registry_api import (
    AgentMaintenance,
    QuotaDoc,
    decode_resources,
    encode_resources,
    kept_entry_fields,
)
from mesospy.v1 import common_pb2 as pb


def _encode(message: pb.AgentInfo | pb.FrameworkInfo) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def _decode_framework(text: str) -> pb.FrameworkInfo:
    return pb.FrameworkInfo.FromString(base64.b64decode(text))


def _decode_agent(text: str) -> pb.AgentInfo:
    return pb.AgentInfo.FromString(base64.b64decode(text))


class LocalRegistry:
    """A registry kept in one JSON file in the master's work directory."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / "registry.json"
        self._lock = asyncio.Lock()
        self._doc: dict[str, Any] = {"frameworks": {}, "agents": {}, "weights": {}}
        # Changes made to the document, and how many of them are on disk.
        self._changes = 0
        self._persisted = 0
        # Each agent's entry as JSON, kept until the entry changes: a write re-encodes
        # only what changed, not 10,000 agents.
        self._agent_text: dict[str, str] = {}

    def load(self) -> None:
        """Read the registry left by an earlier master (blocking; call at start-up)."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._path.exists():
            self._doc = json.loads(self._path.read_text())
        self._agent_text.clear()

    # ---------------------------------------------------------------- reads

    def frameworks(self) -> list[tuple[pb.FrameworkInfo, float | None]]:
        """Recovered frameworks with the time they disconnected (None if connected)."""
        return [
            (_decode_framework(f["info"]), f.get("disconnected_time"))
            for f in self._doc["frameworks"].values()
        ]

    def agents(self, state: str) -> list[pb.AgentInfo]:
        return [
            _decode_agent(a["info"]) for a in self._doc["agents"].values() if a["state"] == state
        ]

    def weights(self) -> dict[str, float]:
        return dict(self._doc["weights"])

    def quota(self) -> dict[str, QuotaDoc]:
        return {role: dict(doc) for role, doc in self._doc.get("quota", {}).items()}

    def agent_resources(self) -> dict[str, list[pb.Resource]]:
        """The dynamic reservations and volumes of admitted and unreachable agents."""
        return {
            agent_id: decode_resources(a["resources"])
            for agent_id, a in self._doc["agents"].items()
            if a.get("resources") and a["state"] in ("admitted", "unreachable")
        }

    def maintenance(self) -> dict[str, AgentMaintenance]:
        return {
            agent_id: AgentMaintenance.from_json(a["maintenance"])
            for agent_id, a in self._doc["agents"].items()
            if a.get("maintenance") and a["state"] in ("admitted", "unreachable")
        }

    # ---------------------------------------------------------------- operations

    async def admit_agent(self, info: pb.AgentInfo) -> None:
        entry: dict[str, Any] = {"info": _encode(info), "state": "admitted"}
        old = self._doc["agents"].get(info.id)
        entry.update(kept_entry_fields(old))
        self._doc["agents"][info.id] = entry
        self._agent_text.pop(info.id, None)
        await self._persist()

    async def mark_agent_unreachable(self, agent_id: str, when: float) -> None:
        if agent := self._doc["agents"].get(agent_id):
            agent.update(state="unreachable", unreachable_time=when)
            self._agent_text.pop(agent_id, None)
            await self._persist()

    async def mark_agent_gone(self, agent_id: str) -> None:
        if agent := self._doc["agents"].get(agent_id):
            agent.update(state="gone")
            self._agent_text.pop(agent_id, None)
            await self._persist()

    async def remove_agent(self, agent_id: str) -> None:
        if self._doc["agents"].pop(agent_id, None) is not None:
            self._agent_text.pop(agent_id, None)
            await self._persist()

    async def set_agent_maintenance(
        self, agent_id: str, maintenance: AgentMaintenance | None
    ) -> None:
        if agent := self._doc["agents"].get(agent_id):
            if maintenance is None:
                agent.pop("maintenance", None)
            else:
                agent["maintenance"] = maintenance.to_json()
            self._agent_text.pop(agent_id, None)
            await self._persist()

    async def update_agent_resources(self, agent_id: str, resources: Sequence[pb.Resource]) -> None:
        if agent := self._doc["agents"].get(agent_id):
            if resources:
                agent["resources"] = encode_resources(resources)
            else:
                agent.pop("resources", None)
            self._agent_text.pop(agent_id, None)
            await self._persist()

    async def add_framework(self, info: pb.FrameworkInfo) -> None:
        self._doc["frameworks"][info.id] = {"info": _encode(info), "disconnected_time": None}
        await self._persist()

    async def mark_framework_disconnected(self, framework_id: str, when: float | None) -> None:
        if framework := self._doc["frameworks"].get(framework_id):
            framework["disconnected_time"] = when
            await self._persist()

    async def remove_framework(self, framework_id: str) -> None:
        if self._doc["frameworks"].pop(framework_id, None) is not None:
            await self._persist()

    async def update_weights(self, weights: dict[str, float]) -> None:
        self._doc["weights"].update(weights)
        await self._persist()

    async def update_quota(self, changes: dict[str, QuotaDoc | None]) -> None:
        quota = self._doc.setdefault("quota", {})  # absent from registries before quota
        for role, doc in changes.items():
            if doc is None:
                quota.pop(role, None)
            else:
                quota[role] = doc
        await self._persist()

    # ---------------------------------------------------------------- storage

    async def _persist(self) -> None:
        """Return once the document, with this caller's change, is on disk."""
        self._changes += 1
        mine = self._changes
        async with self._lock:
            if self._persisted >= mine:
                return  # a write that began after this change already stored it
            upto = self._changes
            text = self._dump()
            await asyncio.to_thread(self._write, text)
            self._persisted = upto

    def _dump(self) -> str:
        """``json.dumps(self._doc, sort_keys=True)``, from the cached agent entries."""
        parts = []
        for key in sorted(self._doc):
            if key != "agents":
                parts.append(f"{json.dumps(key)}: {json.dumps(self._doc[key], sort_keys=True)}")
                continue
            agents = self._doc["agents"]
            entries = []
            for agent_id in sorted(agents):
                text = self._agent_text.get(agent_id)
                if text is None:
                    text = json.dumps(agents[agent_id], sort_keys=True)
                    self._agent_text[agent_id] = text
                entries.append(f"{json.dumps(agent_id)}: {text}")
            parts.append(f'"agents": {{{", ".join(entries)}}}')
        return f"{{{', '.join(parts)}}}"

    def _write(self, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".registry.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
