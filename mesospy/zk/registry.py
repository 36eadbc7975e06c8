"""The registry kept in ZooKeeper: ``ZooKeeperRegistry``.

Layout under ``<path>/registry/``: ``agents/<id>`` (with the agent's maintenance, if any) and
``frameworks/<id>`` (one small JSON znode each, so 10k agents never approach ZooKeeper's 1 MB
node limit), ``weights`` and ``quota`` (one JSON znode each, by role).

Every transaction also sets ``epoch``, so the zxid of its last change (``mzxid``, unique
in the ensemble's history, even if the node is deleted and made again) names the registry's
latest change. A standby master reads the whole registry ahead of leading (``read``, tagged
with the epoch read first) and hands it to the registry it gets once elected (``warm``):
``load`` then reads only the epoch, and re-reads everything only if it moved since: 10,000
agents' nodes take seconds to read, and a new leader should not spend them after the
failover. Every master of a cluster must set the epoch (run this version or later): one
that writes without it would leave a standby's snapshot looking current.

Fencing: every write is a multi-op transaction that first checks the leader's own election
znode. That node is ephemeral, so once this master's session has expired (and a successor
may lead) every write fails with ``RegistryFenced`` and changes nothing. Updates and deletes
of existing nodes also carry the version last seen (compare-and-set), so a write based on a
stale view fails with ``RegistryConflict`` instead of silently overwriting.

Writes issued while another is in flight are grouped into the next transaction (one round
trip for many operations, as during a burst of agent registrations); repeated writes to one
node in a group collapse into the last. Blocking kazoo calls run in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError, RolledBackError, SessionExpiredError

from mesospy.registry_api import (
    AgentMaintenance,
    QuotaDoc,
    decode_resources,
    encode_resources,
    kept_entry_fields,
)
from mesospy.v1 import common_pb2 as pb

log = logging.getLogger(__name__)

# One transaction stays well under ZooKeeper's 1 MB request limit (jute.maxbuffer).
MAX_BATCH_BYTES = 512 * 1024
MAX_BATCH_OPS = 1000


class RegistryError(Exception):
    """A registry write failed; memory may be ahead of what is stored."""


class RegistryFenced(RegistryError):
    """This master was deposed: its election znode is gone, so it may not write."""


class RegistryConflict(RegistryError):
    """A node changed under this master (stale version); reload before writing again."""


class RegistryUnavailable(RegistryError):
    """ZooKeeper could not be reached; whether the write happened is unknown."""


def _encode(message: pb.AgentInfo | pb.FrameworkInfo) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RegistrySnapshot:
    """The whole registry as read when ``epoch`` was the epoch node's ``mzxid``."""

    epoch: int | None
    agents: dict[str, dict[str, Any]]
    frameworks: dict[str, dict[str, Any]]
    weights: dict[str, float]
    versions: dict[str, int | None]
    quota: dict[str, QuotaDoc] = field(default_factory=dict)


@dataclass
class _Pending:
    data: bytes | None  # None: delete the node
    futures: list[asyncio.Future[None]] = field(default_factory=list)


class ZooKeeperRegistry:
    """The registry under ``<path>/registry``, written only while ``fence_node`` exists.

    ``client`` is a started KazooClient the caller owns. ``fence_node`` is the full path of
    the leading master's election znode (``MasterContender.node``), created with the same
    ``client`` (so an expired session also means a deposed master); None writes unfenced
    (tools and tests only). ``last_write_seconds`` is the duration of the latest
    transaction, for metrics.
    """

    def __init__(self, client: KazooClient, path: str, fence_node: str | None) -> None:
        self._client = client
        self._root = f"{path.rstrip('/')}/registry"
        self._fence = fence_node
        self._agents: dict[str, dict[str, Any]] = {}
        self._frameworks: dict[str, dict[str, Any]] = {}
        self._weights: dict[str, float] = {}
        self._quota: dict[str, QuotaDoc] = {}
        # Version of each node as last read or written; None: known absent. After load()
        # a node not listed is absent, unless a failed write left its state unsure.
        self._versions: dict[str, int | None] = {}
        self._unsure: set[str] = set()
        self._loaded = False
        self._pending: dict[str, _Pending] = {}
        self._in_flight: dict[str, _Pending] = {}  # the batch being committed
        self._writer: asyncio.Task[None] | None = None
        self._folders_made = False
        self._warm: RegistrySnapshot | None = None
        self.last_write_seconds = 0.0
        self.transactions = 0

    # ---------------------------------------------------------------- load and reads

    def load(self) -> None:
        """Read the whole registry, or take the snapshot given to ``warm`` if the epoch
        has not moved since it was read (blocking; run it in a thread at start-up)."""
        self._make_folders()
        snapshot, self._warm = self._warm, None
        if snapshot is None or snapshot.epoch is None or snapshot.epoch != self.epoch():
            snapshot = self.read()
        else:
            log.info("registry unchanged since it was read ahead: not read again")
        self._agents, self._frameworks = dict(snapshot.agents), dict(snapshot.frameworks)
        self._weights = dict(snapshot.weights)
        self._quota = dict(snapshot.quota)
        self._versions.clear()
        self._versions.update(snapshot.versions)
        self._unsure.clear()
        self._loaded = True

    def warm(self, snapshot: RegistrySnapshot) -> None:
        """What the next ``load`` takes instead of reading, if the epoch has not moved."""
        self._warm = snapshot

    def epoch(self) -> int | None:
        """The zxid of the epoch's last change (None: there is no epoch node yet)."""
        stat = self._client.exists(self._epoch_path)
        return stat.mzxid if stat is not None else None

    def read(self) -> RegistrySnapshot:
        """Read the whole registry without taking it (blocking): the snapshot is tagged
        with the epoch read first, so a change made during the read also dates it."""
        epoch = self.epoch()
        versions: dict[str, int | None] = {}
        agents = self._load_folder("agents", versions)
        frameworks = self._load_folder("frameworks", versions)
        weights = self._load_node("weights", versions)
        quota = self._load_node("quota", versions)
        return RegistrySnapshot(epoch, agents, frameworks, weights, versions, quota)

    def _load_node(self, name: str, versions: dict[str, int | None]) -> dict[str, Any]:
        path = f"{self._root}/{name}"
        try:
            data, stat = self._client.get(path)
        except NoNodeError:
            versions[path] = None
            return {}
        versions[path] = stat.version
        loaded: dict[str, Any] = json.loads(data)
        return loaded

    @property
    def _epoch_path(self) -> str:
        return f"{self._root}/epoch"

    def _make_folders(self) -> None:
        # Not fenced: creating empty folders cannot hurt a successor.
        for folder in ("agents", "frameworks"):
            self._client.ensure_path(f"{self._root}/{folder}")
        self._client.ensure_path(self._epoch_path)
        self._folders_made = True

    def _load_folder(
        self, folder: str, versions: dict[str, int | None]
    ) -> dict[str, dict[str, Any]]:
        base = f"{self._root}/{folder}"
        names = self._client.get_children(base)
        # Ask for every node at once: one round trip's latency, not one per node.
        requests = [(name, self._client.get_async(f"{base}/{name}")) for name in names]
        entries: dict[str, dict[str, Any]] = {}
        for name, request in requests:
            try:
                data, stat = request.get()
            except NoNodeError:
                continue
            entries[unquote(name)] = json.loads(data)
            versions[f"{base}/{name}"] = stat.version
        return entries

    def frameworks(self) -> list[tuple[pb.FrameworkInfo, float | None]]:
        """Recovered frameworks with the time they disconnected (None if connected)."""
        return [
            (pb.FrameworkInfo.FromString(base64.b64decode(f["info"])), f.get("disconnected_time"))
            for f in self._frameworks.values()
        ]

    def agents(self, state: str) -> list[pb.AgentInfo]:
        """Agents in ``state``: "admitted", "unreachable" or "gone"."""
        return [
            pb.AgentInfo.FromString(base64.b64decode(a["info"]))
            for a in self._agents.values()
            if a["state"] == state
        ]

    def weights(self) -> dict[str, float]:
        """Role weights set by operators."""
        return dict(self._weights)

    def quota(self) -> dict[str, QuotaDoc]:
        """Role quota set by operators, by role."""
        return dict(self._quota)

    def agent_resources(self) -> dict[str, list[pb.Resource]]:
        """The dynamic reservations and volumes of admitted and unreachable agents."""
        return {
            agent_id: decode_resources(a["resources"])
            for agent_id, a in self._agents.items()
            if a.get("resources") and a["state"] in ("admitted", "unreachable")
        }

    def maintenance(self) -> dict[str, AgentMaintenance]:
        """Admitted and unreachable agents under maintenance, by agent id."""
        return {
            agent_id: AgentMaintenance.from_json(a["maintenance"])
            for agent_id, a in self._agents.items()
            if a.get("maintenance") and a["state"] in ("admitted", "unreachable")
        }

    # ---------------------------------------------------------------- operations

    async def admit_agent(self, info: pb.AgentInfo) -> None:
        entry: dict[str, Any] = {"info": _encode(info), "state": "admitted"}
        old = self._agents.get(info.id)
        entry.update(kept_entry_fields(old))
        if entry == old and self._stored(self._node("agents", info.id)):
            # Re-admitting an agent exactly as stored (its re-registration after a failover)
            # changes nothing: no write, so 10,000 agents re-register without 10,000 writes.
            return
        self._agents[info.id] = entry
        await self._put_agent(info.id)

    async def mark_agent_unreachable(self, agent_id: str, when: float) -> None:
        if agent := self._agents.get(agent_id):
            agent.update(state="unreachable", unreachable_time=when)
            await self._put_agent(agent_id)

    async def mark_agent_gone(self, agent_id: str) -> None:
        if agent := self._agents.get(agent_id):
            agent.update(state="gone")
            await self._put_agent(agent_id)

    async def remove_agent(self, agent_id: str) -> None:
        if self._agents.pop(agent_id, None) is not None:
            await self._write(self._node("agents", agent_id), None)

    async def set_agent_maintenance(
        self, agent_id: str, maintenance: AgentMaintenance | None
    ) -> None:
        """Kept in the agent's own node: the layout stays one znode per agent."""
        if agent := self._agents.get(agent_id):
            if maintenance is None:
                agent.pop("maintenance", None)
            else:
                agent["maintenance"] = maintenance.to_json()
            await self._put_agent(agent_id)

    async def update_agent_resources(self, agent_id: str, resources: Sequence[pb.Resource]) -> None:
        if agent := self._agents.get(agent_id):
            if resources:
                agent["resources"] = encode_resources(resources)
            else:
                agent.pop("resources", None)
            await self._put_agent(agent_id)

    async def add_framework(self, info: pb.FrameworkInfo) -> None:
        self._frameworks[info.id] = {"info": _encode(info), "disconnected_time": None}
        await self._put_framework(info.id)

    async def mark_framework_disconnected(self, framework_id: str, when: float | None) -> None:
        if framework := self._frameworks.get(framework_id):
            framework["disconnected_time"] = when
            await self._put_framework(framework_id)

    async def remove_framework(self, framework_id: str) -> None:
        if self._frameworks.pop(framework_id, None) is not None:
            await self._write(self._node("frameworks", framework_id), None)

    async def update_weights(self, weights: dict[str, float]) -> None:
        self._weights.update(weights)
        await self._write(f"{self._root}/weights", _dump(self._weights))

    async def update_quota(self, changes: dict[str, QuotaDoc | None]) -> None:
        for role, doc in changes.items():
            if doc is None:
                self._quota.pop(role, None)
            else:
                self._quota[role] = doc
        await self._write(f"{self._root}/quota", _dump(self._quota))

    # ---------------------------------------------------------------- writing

    def _stored(self, path: str) -> bool:
        """Whether ZooKeeper holds what memory holds for ``path`` (read or written by this
        registry, no write pending or unsure)."""
        return (
            self._loaded
            and self._versions.get(path) is not None
            and path not in self._unsure
            and path not in self._pending
            and path not in self._in_flight
        )

    def _node(self, folder: str, ident: str) -> str:
        # Quoting keeps an id with '/' (or other odd characters) a single znode name.
        return f"{self._root}/{folder}/{quote(ident, safe='')}"

    async def _put_agent(self, agent_id: str) -> None:
        await self._write(self._node("agents", agent_id), _dump(self._agents[agent_id]))

    async def _put_framework(self, framework_id: str) -> None:
        node = self._node("frameworks", framework_id)
        await self._write(node, _dump(self._frameworks[framework_id]))

    async def _write(self, path: str, data: bytes | None) -> None:
        """Queue a write of ``path`` (None deletes it) and wait until it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        pending = self._pending.setdefault(path, _Pending(data))
        pending.data = data
        pending.futures.append(future)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            self._in_flight = batch
            error: BaseException | None = None
            try:
                await asyncio.to_thread(self._commit_all, batch)
            except Exception as exc:
                error = exc
            finally:
                self._in_flight = {}
            for pending in batch.values():
                for future in pending.futures:
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)

    def _commit_all(self, batch: dict[str, _Pending]) -> None:
        if not self._folders_made:
            try:
                self._make_folders()
            except KazooException as exc:
                raise RegistryUnavailable(f"registry write failed: {exc!r}") from exc
        for chunk in _chunks([(path, p.data) for path, p in batch.items()]):
            self._commit(chunk)

    def _commit(self, chunk: list[tuple[str, bytes | None]]) -> None:
        """One fenced transaction (worker thread)."""
        started = time.perf_counter()
        try:
            self._learn_versions([path for path, _ in chunk])
            transaction = self._client.transaction()
            if self._fence is not None:
                transaction.check(self._fence, -1)  # -1: any version, but it must exist
            ops: list[tuple[str, str]] = []
            for path, data in chunk:
                version = self._versions[path]
                if data is None:
                    if version is not None:
                        transaction.delete(path, version)
                        ops.append((path, "delete"))
                elif version is None:
                    transaction.create(path, data)
                    ops.append((path, "create"))
                else:
                    transaction.set_data(path, data, version)
                    ops.append((path, "set"))
            if not ops:
                return
            transaction.set_data(self._epoch_path, b"", -1)  # -1: whatever its version
            results = transaction.commit()
        except SessionExpiredError as exc:
            if self._fence is None:
                raise RegistryUnavailable("registry write failed: session expired") from exc
            # The fence is this session's ephemeral node: with the session, it is gone.
            raise RegistryFenced(
                f"this master was deposed (its ZooKeeper session expired, and with it "
                f"{self._fence}): registry not written"
            ) from exc
        except KazooException as exc:
            # The outcome is unknown: re-read these versions before writing them again.
            self._forget([path for path, _ in chunk])
            raise RegistryUnavailable(f"registry write failed: {exc!r}") from exc
        self.last_write_seconds = time.perf_counter() - started
        self.transactions += 1
        self._check_results(results, ops)

    def _forget(self, paths: list[str]) -> None:
        for path in paths:
            self._versions.pop(path, None)
            self._unsure.add(path)

    def _learn_versions(self, paths: list[str]) -> None:
        unknown = [
            path
            for path in paths
            if path in self._unsure or (path not in self._versions and not self._loaded)
        ]
        requests = [(path, self._client.exists_async(path)) for path in unknown]
        for path, request in requests:
            stat = request.get()
            self._versions[path] = stat.version if stat is not None else None
            self._unsure.discard(path)
        for path in paths:
            self._versions.setdefault(path, None)  # loaded and not listed: absent

    def _check_results(self, results: list[Any], ops: list[tuple[str, str]]) -> None:
        if self._fence is not None:
            fence_result, results = results[0], results[1:]
            if isinstance(fence_result, NoNodeError):
                raise RegistryFenced(
                    f"this master was deposed (its election znode {self._fence} is gone): "
                    "registry not written"
                )
        epoch_result, results = results[-1], results[:-1]
        if isinstance(epoch_result, NoNodeError):
            self._folders_made = False  # made again before the next transaction
            self._forget([path for path, _ in ops])
            raise RegistryUnavailable(
                f"registry write failed: {self._epoch_path} was missing (removed by hand?); "
                "it is made again before the next write"
            )
        failures = [
            (path, result)
            for (path, _), result in zip(ops, results, strict=True)
            if isinstance(result, Exception) and not isinstance(result, RolledBackError)
        ]
        if failures:
            self._forget([path for path, _ in ops])
            what = ", ".join(f"{path}: {type(exc).__name__}" for path, exc in failures)
            raise RegistryConflict(f"registry changed under this master ({what}); reload it")
        for (path, kind), result in zip(ops, results, strict=True):
            if kind == "delete":
                self._versions[path] = None
            elif kind == "create":
                self._versions[path] = 0
            else:
                self._versions[path] = result.version


def _chunks(
    writes: list[tuple[str, bytes | None]],
) -> Iterator[list[tuple[str, bytes | None]]]:
    chunk: list[tuple[str, bytes | None]] = []
    size = 0
    for path, data in writes:
        cost = len(path) + len(data or b"") + 64
        if chunk and (size + cost > MAX_BATCH_BYTES or len(chunk) >= MAX_BATCH_OPS):
            yield chunk
            chunk, size = [], 0
        chunk.append((path, data))
        size += cost
    if chunk:
        yield chunk
