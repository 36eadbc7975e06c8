"""ZooKeeperRegistry against a real ZooKeeper: round trip, fencing, versions, scale."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from mesospy.master.registry import LocalRegistry
from mesospy.registry_api import Registry
from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.v1 import common_pb2 as pb
from mesospy.zk.election import MasterContender
from mesospy.zk.registry import RegistryConflict, RegistryFenced, ZooKeeperRegistry

from .support import SESSION, info, run


def agent(n: int) -> pb.AgentInfo:
    """An agent as big as a real one: four resources, a few attributes."""
    return pb.AgentInfo(
        id=f"3f1c9b2e-7d4a-4c55-9e1f-0b6a2d8c4e71-S{n}",
        hostname=f"node-{n:05d}.rack-{n % 40:02d}.dc1.example.com",
        port=5051,
        resources=[
            pb.Resource(name="cpus", scalar=32),
            pb.Resource(name="mem", scalar=257_000),
            pb.Resource(name="disk", scalar=1_800_000),
            pb.Resource(
                name="ports", type=pb.Resource.RANGES, ranges=[pb.Range(begin=31000, end=32000)]
            ),
        ],
        attributes={"rack": f"r{n % 40}", "zone": "dc1-a", "os": "debian12"},
        version="0.1.0",
    )


def framework(n: int) -> pb.FrameworkInfo:
    return pb.FrameworkInfo(id=f"fw-{n}", name=f"framework {n}", failover_timeout=60)


async def apply_operations(registry: Registry) -> None:
    """The same named operations, for every backend."""
    await asyncio.gather(*(registry.admit_agent(agent(n)) for n in range(5)))
    await registry.mark_agent_unreachable(agent(1).id, 1000.5)
    await registry.mark_agent_gone(agent(2).id)
    await registry.remove_agent(agent(3).id)
    await registry.remove_agent("no-such-agent")
    await registry.mark_agent_gone("no-such-agent")
    await registry.add_framework(framework(1))
    await registry.add_framework(framework(2))
    await registry.mark_framework_disconnected("fw-1", 2000.25)
    await registry.remove_framework("fw-2")
    await registry.update_weights({"web": 2.0, "batch": 0.5})
    await registry.update_weights({"web": 3.0})
    # An agent's reservations and volumes outlive its re-admission; none: the key goes.
    reserved = pb.Resource(name="cpus", type=pb.Resource.SCALAR, scalar=1, role="eng")
    reserved.reservations.add(type=pb.ReservationInfo.DYNAMIC, role="eng", principal="p")
    await registry.update_agent_resources(agent(0).id, [reserved])
    await registry.admit_agent(agent(0))
    await registry.update_agent_resources(agent(4).id, [reserved])
    await registry.update_agent_resources(agent(4).id, [])


def snapshot(registry: Registry) -> tuple[object, ...]:
    return (
        sorted(a.id for a in registry.agents("admitted")),
        sorted(a.id for a in registry.agents("unreachable")),
        sorted(a.id for a in registry.agents("gone")),
        sorted((f.SerializeToString(), when) for f, when in registry.frameworks()),
        registry.weights(),
        {k: [r.SerializeToString() for r in v] for k, v in registry.agent_resources().items()},
    )


async def lead(zk: ZooKeeperSandbox, client: KazooClient, n: int = 0) -> MasterContender:
    contender = MasterContender(client, zk.path, info(n))
    await contender.start()
    await contender.wait_elected(timeout=5)
    return contender


def test_round_trip_matches_local_registry(zookeeper: ZooKeeperSandbox, tmp_path: Path) -> None:
    async def main() -> None:
        client = zookeeper.client(timeout=SESSION)
        contender = await lead(zookeeper, client)
        writer = ZooKeeperRegistry(client, zookeeper.path, fence_node=contender.node)
        await asyncio.to_thread(writer.load)
        await apply_operations(writer)
        assert writer.last_write_seconds > 0

        reader = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(reader.load)
        local = LocalRegistry(tmp_path)
        local.load()
        await apply_operations(local)
        assert snapshot(reader) == snapshot(writer) == snapshot(local)
        assert snapshot(reader)[1] == [agent(1).id]
        ((kept_by, (kept,)),) = reader.agent_resources().items()
        assert kept_by == agent(0).id and kept.reservations[0].principal == "p"
        assert reader.frameworks() == [(framework(1), 2000.25)]
        assert reader.agents("admitted")[0] == agent(0)

        # Only the election znode and the registry live under the cluster path.
        children = sorted(client.get_children(zookeeper.path))
        assert children == ["json.info_0000000000", "registry"]
        await contender.withdraw()

    run(main)


def test_deposed_master_cannot_write(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        client = zookeeper.client(timeout=SESSION)
        contender = await lead(zookeeper, client)
        registry = ZooKeeperRegistry(client, zookeeper.path, fence_node=contender.node)
        await asyncio.to_thread(registry.load)
        await registry.admit_agent(agent(1))
        await registry.update_weights({"web": 1.0})

        await asyncio.to_thread(zookeeper.server.expire_session, client)
        await contender.wait_deposed(timeout=1)
        with pytest.raises(RegistryFenced, match="deposed"):
            await registry.mark_agent_gone(agent(1).id)
        with pytest.raises(RegistryFenced):
            await asyncio.gather(registry.admit_agent(agent(2)), registry.remove_agent(agent(1).id))
        with pytest.raises(RegistryFenced):
            await registry.update_weights({"web": 9.0})

        stored = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(stored.load)
        assert [a.id for a in stored.agents("admitted")] == [agent(1).id]
        assert stored.agents("gone") == []
        assert stored.weights() == {"web": 1.0}
        await contender.withdraw()

    run(main)


def test_stale_version_is_a_conflict(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        first = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(first.load)
        await first.admit_agent(agent(1))

        second = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(second.load)
        await second.mark_agent_gone(agent(1).id)

        # ``first`` still holds the old version: its update must not clobber ``second``'s.
        with pytest.raises(RegistryConflict, match="reload"):
            await first.mark_agent_unreachable(agent(1).id, 5.0)
        check = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(check.load)
        assert [a.id for a in check.agents("gone")] == [agent(1).id]

        # After a reload it writes again.
        await asyncio.to_thread(first.load)
        await first.remove_agent(agent(1).id)

    run(main)


def test_a_registry_read_ahead_is_taken_while_the_epoch_holds(
    zookeeper: ZooKeeperSandbox,
) -> None:
    async def main() -> None:
        leader = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        await asyncio.to_thread(leader.load)
        await asyncio.gather(*(leader.admit_agent(agent(n)) for n in range(3)))
        await leader.update_weights({"web": 2.0})
        standby = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        epoch = await asyncio.to_thread(standby.epoch)
        assert epoch is not None
        ahead = await asyncio.to_thread(standby.read)
        assert ahead.epoch == epoch and len(ahead.agents) == 3

        # Unchanged: taken as read. A node changed behind the registry's back (not by a
        # transaction, so the epoch holds) shows that it was not read again.
        raw = zookeeper.client()
        folder = f"{zookeeper.path}/registry/agents"
        await asyncio.to_thread(raw.delete, f"{folder}/{raw.get_children(folder)[0]}")
        elected = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        elected.warm(ahead)
        await asyncio.to_thread(elected.load)
        assert len(elected.agents("admitted")) == 3
        assert elected.weights() == {"web": 2.0}

        # Every transaction moves the epoch: a snapshot from before it is read again.
        await leader.mark_agent_gone(agent(1).id)
        assert await asyncio.to_thread(standby.epoch) not in (None, epoch)
        elected = ZooKeeperRegistry(zookeeper.client(), zookeeper.path, fence_node=None)
        elected.warm(ahead)
        await asyncio.to_thread(elected.load)
        assert [a.id for a in elected.agents("gone")] == [agent(1).id]
        assert len(elected.agents("admitted")) == 1  # and the deleted node is gone
        # What it loaded is what it writes on: no conflict.
        await elected.remove_agent(agent(1).id)

    run(main)


# 10,000 agents, as in a large cluster. Concurrent writes are grouped into transactions
# of at most 1,000 ops / 512 KB, so this takes a few seconds; each node must stay far
# below ZooKeeper's 1 MB node limit (a realistic agent is ~0.5 KB).
AGENTS = 10_000
MAX_NODE_BYTES = 4096


def test_ten_thousand_agents_fit(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        client = zookeeper.client(timeout=10)
        contender = await lead(zookeeper, client)
        registry = ZooKeeperRegistry(client, zookeeper.path, fence_node=contender.node)
        await asyncio.to_thread(registry.load)
        started = time.perf_counter()
        await asyncio.gather(*(registry.admit_agent(agent(n)) for n in range(AGENTS)))
        write_seconds = time.perf_counter() - started
        assert registry.transactions < AGENTS / 100  # grouped, not one round trip each

        folder = f"{zookeeper.path}/registry/agents"
        names = client.get_children(folder)
        assert len(names) == AGENTS
        for name in names[:: AGENTS // 50]:
            data, _ = client.get(f"{folder}/{name}")
            assert len(data) < MAX_NODE_BYTES

        started = time.perf_counter()
        fresh = ZooKeeperRegistry(zookeeper.client(timeout=10), zookeeper.path, fence_node=None)
        await asyncio.to_thread(fresh.load)
        load_seconds = time.perf_counter() - started
        assert len(fresh.agents("admitted")) == AGENTS
        print(f"\n{AGENTS} agents: write {write_seconds:.2f}s, load {load_seconds:.2f}s")
        await contender.withdraw()

    run(main, timeout=120)
