"""Leader election against a real ZooKeeper: one leader, fast succession, no stale leader."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from kazoo.client import KazooClient

from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.zk.election import MasterContender
from mesospy.zk.master_info import sorted_contenders

from .support import SESSION, info, run


class Recorder:
    """Collects a contender's on_change calls."""

    def __init__(self) -> None:
        self.changes: list[bool] = []

    def __call__(self, leading: bool) -> None:
        self.changes.append(leading)


async def contend(
    zk: ZooKeeperSandbox, n: int, client: KazooClient | None = None
) -> tuple[MasterContender, Recorder, KazooClient]:
    client = client or zk.client(timeout=SESSION)
    recorder = Recorder()
    contender = MasterContender(client, zk.path, info(n), on_change=recorder)
    await contender.start()
    return contender, recorder, client


def test_three_contenders_one_leader(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        entries = [await contend(zookeeper, n) for n in range(3)]
        contenders = [c for c, _, _ in entries]
        assert [c.leading for c in contenders] == [True, False, False]
        assert [r.changes for _, r, _ in entries] == [[True], [], []]
        assert await contenders[0].wait_elected(timeout=1) == contenders[0].node

        # The znodes follow Mesos's convention and hold the JSON MasterInfo.
        client = entries[0][2]
        names = sorted_contenders(client.get_children(zookeeper.path))
        assert [f"{zookeeper.path}/{name}" for name in names] == [c.node for c in contenders]
        data, stat = client.get(contenders[0].node)
        assert stat.ephemeralOwner == client.client_id[0]
        assert json.loads(data)["address"] == {"hostname": "m0", "ip": "127.0.0.1", "port": 5050}
        for c in contenders:
            await c.withdraw()

    run(main)


def test_withdraw_and_closed_session_hand_over(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        (first, r1, _), (second, _, c2), (third, _, _) = [
            await contend(zookeeper, n) for n in range(3)
        ]
        await first.withdraw()
        assert r1.changes == [True, False]
        assert await second.wait_elected(timeout=5) == second.node
        assert not third.leading

        # A clean shutdown closes the session: its node goes at once.
        await asyncio.to_thread(c2.stop)
        assert await third.wait_elected(timeout=5) == third.node
        await third.withdraw()

    run(main)


CONTENDER_SCRIPT = """
import asyncio, sys
from kazoo.client import KazooClient
from mesospy.v1 import common_pb2 as pb
from mesospy.zk.election import MasterContender

async def main():
    client = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[3]))
    client.start(timeout=15)
    contender = MasterContender(client, sys.argv[2], pb.MasterInfo(id="child", ip="127.0.0.1",
                                port=6060))
    await contender.start()
    print("LEADING" if await contender.wait_elected() else "", contender.node, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_killed_leader_is_succeeded_within_session_timeout(zookeeper: ZooKeeperSandbox) -> None:
    """kill -9 the leading process: its session expires and the next contender leads."""
    child = subprocess.Popen(
        [sys.executable, "-c", CONTENDER_SCRIPT, zookeeper.hosts, zookeeper.path, str(SESSION)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # the child prints once it leads
        assert line.startswith("LEADING"), line

        async def main() -> None:
            follower, _, _ = await contend(zookeeper, 1)
            assert not follower.leading
            os.kill(child.pid, signal.SIGKILL)
            started = time.monotonic()
            await follower.wait_elected(timeout=SESSION + 2)
            assert time.monotonic() - started < SESSION + 2
            await follower.withdraw()

        run(main)
    finally:
        child.kill()
        child.wait()


def test_expired_leader_learns_it_lost_and_contends_again(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        (leader, r1, c1), (follower, _, _) = [await contend(zookeeper, n) for n in range(2)]
        old_node = leader.node
        await asyncio.to_thread(zookeeper.server.expire_session, c1)
        await leader.wait_deposed(timeout=1)
        assert not leader.leading
        assert r1.changes[:2] == [True, False]
        await follower.wait_elected(timeout=5)

        # The expired master bids again in its new session, behind the new leader.
        deadline = time.monotonic() + 5
        while leader.node in (None, old_node):
            assert time.monotonic() < deadline, "expired contender did not contend again"
            await asyncio.sleep(0.05)  # polling a property with a deadline
        assert not leader.leading and r1.changes == [True, False]
        assert c1.exists(old_node) is None
        await follower.withdraw()
        assert await leader.wait_elected(timeout=5) == leader.node
        await leader.withdraw()

    run(main)


def test_suspended_leader_stops_leading_at_once(zookeeper: ZooKeeperSandbox) -> None:
    """A broken connection deposes the leader before ZooKeeper decides anything."""

    async def main() -> None:
        leader, recorder, client = await contend(zookeeper, 0)
        events: list[Any] = []
        deposed = asyncio.Event()

        def on_change(leading: bool) -> None:
            events.append(leading)
            deposed.set()

        leader._on_change = on_change
        zookeeper.server.drop_connection(client)
        await asyncio.wait_for(deposed.wait(), 2)
        assert events[0] is False and not leader.leading
        # Same session, node still lowest: leadership is granted again.
        await leader.wait_elected(timeout=5)
        assert events == [False, True]
        assert recorder.changes == [True]
        await leader.withdraw()

    run(main)


def test_node_deleted_behind_its_back_is_recreated(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        leader, recorder, client = await contend(zookeeper, 0)
        old = leader.node
        await asyncio.to_thread(client.delete, old)
        # Its fence is gone: it must be deposed, then lead again with a new node.
        await leader.wait_deposed(timeout=5)
        await leader.wait_elected(timeout=5)
        assert recorder.changes == [True, False, True]
        assert leader.node != old and client.exists(leader.node) is not None
        await leader.withdraw()

    run(main)
