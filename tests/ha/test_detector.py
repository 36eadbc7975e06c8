"""MasterDetector over ZooKeeper: finds the leader, follows changes, waits when none leads."""

from __future__ import annotations

import asyncio

import pytest

from mesospy.detector import MasterDetector, NoLeaderError
from mesospy.testing.zookeeper import ZooKeeperSandbox
from mesospy.zk.election import MasterContender

from .support import SESSION, info, run


def test_host_port_detector_is_unchanged() -> None:
    async def main() -> None:
        detector = MasterDetector("127.0.0.1:5051")
        assert not detector.uses_zookeeper
        assert await detector.detect() == "127.0.0.1:5051"
        detector.appoint("10.0.0.2:5050")
        assert await detector.detect() == "10.0.0.2:5050"
        leader = await detector.leader_info()
        assert leader is not None and leader.address.port == 5050
        assert len(await detector.contenders()) == 1
        await detector.close()

    run(main)


def test_detector_follows_the_leader(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        # Built before any master exists (even before the path does): detect() waits.
        detector = MasterDetector(zookeeper.url)
        assert detector.uses_zookeeper
        with pytest.raises(NoLeaderError):
            await detector.detect(timeout=0.5)
        assert await detector.leader_info() is None

        contenders = []
        for n in range(3):
            contender = MasterContender(zookeeper.client(timeout=SESSION), zookeeper.path, info(n))
            await contender.start()
            contenders.append(contender)
        assert await detector.detect(timeout=5) == "127.0.0.1:5050"

        # The contender list fills in as the watch fires; wait for all three.
        deadline = asyncio.get_running_loop().time() + 5
        while len(await detector.contenders()) < 3:
            assert asyncio.get_running_loop().time() < deadline
            await detector._zk._changed.wait()  # type: ignore[union-attr]
        assert [c.id for c in await detector.contenders()] == ["master-0", "master-1", "master-2"]
        leader = await detector.leader_info()
        assert leader is not None and leader.id == "master-0" and leader.hostname == "m0"

        # With ZooKeeper a redirect is ignored: a master's hint may name a dead leader.
        detector.appoint("127.0.0.1:5052")
        assert await detector.detect() == "127.0.0.1:5050"
        await contenders[0].withdraw()
        zk = detector._zk
        assert zk is not None
        assert await zk.wait_change("127.0.0.1:5050", timeout=5) == "127.0.0.1:5051"

        await asyncio.to_thread(zookeeper.server.expire_session, contenders[1]._client)
        assert await zk.wait_change("127.0.0.1:5051", timeout=5) == "127.0.0.1:5052"
        assert await detector.detect() == "127.0.0.1:5052"

        await contenders[2].withdraw()
        await contenders[1].withdraw()
        assert await zk.wait_change("127.0.0.1:5052", timeout=5) is None
        with pytest.raises(NoLeaderError):
            await detector.detect(timeout=0.3)
        await detector.close()

    run(main)


def test_detector_survives_its_own_session_expiry(zookeeper: ZooKeeperSandbox) -> None:
    async def main() -> None:
        contender = MasterContender(zookeeper.client(timeout=SESSION), zookeeper.path, info(7))
        await contender.start()
        detector = MasterDetector(zookeeper.url)
        assert await detector.detect(timeout=5) == "127.0.0.1:5057"
        zk = detector._zk
        assert zk is not None and zk._client is not None
        await asyncio.to_thread(zookeeper.server.expire_session, zk._client)
        # A new session looks again and finds the same leader.
        assert await detector.detect(timeout=5) == "127.0.0.1:5057"
        await contender.withdraw()
        assert await zk.wait_change("127.0.0.1:5057", timeout=5) is None
        await detector.close()

    run(main)
