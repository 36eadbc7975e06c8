"""The store (a directory, and a real ZooKeeper) and the VIP proxy (real sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from frameworks.service import deployment
from frameworks.service.model import Instance
from frameworks.service.spec import VipSpec, parse_spec
from frameworks.service.store import Store
from frameworks.service.vip import VipManager, VipProxy
from mesospy.cluster import free_port
from mesospy.testing.zookeeper import ZooKeeperServer


@pytest.fixture(scope="module")
def zookeeper() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server


def exercise(store: Store) -> None:
    assert store.framework_id() == "" and store.apps() == {} and store.instances() == {}
    store.save_framework_id("fw-1")
    app = deployment.new_app(parse_spec({"id": "shop/web", "cmd": "serve", "ports": ["a"]}), 1.0)
    app = deployment.scale(deployment.succeed(app, 2.0), 3, 3.0)
    store.save_app(app)
    instance = Instance(
        "shop_web.v2.abc",
        "shop/web",
        "v2",
        "agent-1",
        "h1",
        {"rack": "r1"},
        (31000,),
        "running",
        True,
        launched_at=4.0,
    )
    store.save_instance(instance)
    assert store.framework_id() == "fw-1"
    assert store.apps() == {"shop/web": app}
    assert store.instances() == {instance.task_id: instance}
    store.delete_instance(instance.task_id)
    store.delete_app(app.id)
    assert store.apps() == {} and store.instances() == {}


def test_directory_store(tmp_path: Path) -> None:
    exercise(Store.open(str(tmp_path / "state")))
    leftovers = [p for p in (tmp_path / "state").rglob(".tmp-*")]
    assert leftovers == []


def test_zookeeper_store(zookeeper: ZooKeeperServer) -> None:
    store = Store.open(f"zk://{zookeeper.hosts}/t-{uuid.uuid4().hex[:8]}/service")
    try:
        exercise(store)
    finally:
        store.close()


# ---------------------------------------------------------------- VIP


async def echo_server(tag: bytes, answer: bool = True) -> tuple[asyncio.Server, int]:
    """Answers each connection with ``tag`` + what it read (or closes without a word)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        if answer:
            writer.write(tag + data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def ask(port: int, payload: bytes = b"hi") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_vip_balances_round_robin_and_skips_dead_backends() -> None:
    async def scenario() -> None:
        a, port_a = await echo_server(b"a:")
        b, port_b = await echo_server(b"b:")
        mute, port_mute = await echo_server(b"", answer=False)  # accepts, closes, says nothing
        dead = free_port()  # nothing listens there
        backends = [("127.0.0.1", p) for p in (port_a, dead, port_mute, port_b)]
        vip = VipProxy("web", VipSpec(port=free_port()), lambda: backends)
        await vip.start()
        try:
            answers = [await ask(vip.spec.port) for _ in range(8)]
        finally:
            await vip.stop()
            for server in (a, b, mute):
                server.close()
        # Every request answered, by a live backend, with what the client sent.
        assert all(x in (b"a:hi", b"b:hi") for x in answers), answers
        assert {b"a:hi", b"b:hi"} <= set(answers)
        assert vip.failed == 0 and vip.served == 8

    asyncio.run(scenario())


def test_vip_least_connections_order() -> None:
    b1, b2, b3 = ("h", 1), ("h", 2), ("h", 3)
    proxy = VipProxy("web", VipSpec(port=1, balance="least-connections"), lambda: [])
    proxy.active.update({b1: 2, b3: 1})
    assert proxy.order([b1, b2, b3]) == [b2, b3, b1]


def test_vip_counts_active_connections_per_backend() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"slow")
            await release.wait()
            writer.close()

        server = await asyncio.start_server(slow, "127.0.0.1", 0)
        backend = ("127.0.0.1", server.sockets[0].getsockname()[1])
        manager = VipManager(lambda app_id: [backend])
        spec = VipSpec(port=free_port())
        await manager.sync({"web": spec})
        pending = asyncio.ensure_future(ask(spec.port))
        for _ in range(250):
            if manager.connections(*backend) == 1:
                break
            await asyncio.sleep(0.02)
        assert manager.connections(*backend) == 1
        release.set()
        assert await pending == b"slow"
        assert manager.connections(*backend) == 0
        await manager.close()
        assert manager.proxies == {}
        server.close()

    asyncio.run(scenario())


def test_vip_manager_reports_a_port_it_cannot_bind() -> None:
    async def scenario() -> None:
        taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = taken.sockets[0].getsockname()[1]
        manager = VipManager(lambda app_id: [])
        with contextlib.suppress(OSError):
            await manager.sync({"web": VipSpec(port=port)})
        assert "cannot listen" in manager.errors["web"]
        taken.close()
        await manager.close()

    asyncio.run(scenario())
