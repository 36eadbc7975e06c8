"""Running as one of several masters: ZooKeeper election, then acting as leader.

A contending master serves from the start, but every call is refused with UNAVAILABLE and
the leader's address until it is elected. Once elected it loads the registry (fenced by its
own election znode) and acts. When it loses leadership (session suspended or lost) it stops
at once and exits, as Mesos masters do: a supervisor restarts it as a fresh contender, and
no state from its reign can leak into its successor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError
from kazoo.handlers.threading import KazooTimeoutError

from mesospy.master.config import MasterConfig
from mesospy.master.master import Master
from mesospy.security.zk_acl import ZooKeeperAuthError, client_options, secure_path
from mesospy.zk.detector import ZooKeeperDetector
from mesospy.zk.election import MasterContender
from mesospy.zk.registry import ZooKeeperRegistry
from mesospy.zk.url import parse_zk_url

log = logging.getLogger(__name__)


class LeadershipLost(RuntimeError):
    """This master was the leader and is not any more; it must exit."""


class ZooKeeperUnreachable(RuntimeError):
    """No ZooKeeper server answered."""


async def lead_when_elected(
    master: Master, config: MasterConfig, on_ready: Callable[[Master], None] | None
) -> None:
    """Contend, lead once elected, and raise ``LeadershipLost`` when deposed."""
    assert config.zk is not None
    url = parse_zk_url(config.zk)
    client = KazooClient(
        hosts=url.hosts, timeout=config.zk_session_timeout, **client_options(config.zk_auth)
    )
    try:
        await asyncio.to_thread(client.start, config.zk_session_timeout)
        if config.zk_auth is not None:
            await asyncio.to_thread(secure_path, client, url.path, config.zk_auth)
    except KazooTimeoutError as exc:
        raise ZooKeeperUnreachable(f"cannot reach ZooKeeper at {url.hosts}") from exc
    except (ZooKeeperAuthError, AuthFailedError) as exc:
        await asyncio.to_thread(_stop, client)
        raise ZooKeeperUnreachable(f"ZooKeeper at {url.hosts}: {exc}") from exc
    detector = ZooKeeperDetector(url, session_timeout=config.zk_session_timeout)
    leader: list[str | None] = [None]
    master.leader_address = lambda: leader[0]
    follower = asyncio.get_running_loop().create_task(_follow(detector, leader))
    contender = MasterContender(client, url.path, master.info)
    try:
        await contender.start()
        if on_ready is not None:
            on_ready(master)
        node = await contender.wait_elected()
        log.info("elected leading master (%s)", node)
        master.use_registry(ZooKeeperRegistry(client, url.path, fence_node=node))
        await master.start()
        await contender.wait_deposed()
        master.leading = False
        raise LeadershipLost(
            "this master lost its ZooKeeper session and with it the leadership; "
            "exiting so that it restarts as a fresh contender"
        )
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await contender.withdraw()
        await detector.close()
        await asyncio.to_thread(_stop, client)


async def _follow(detector: ZooKeeperDetector, leader: list[str | None]) -> None:
    """Keep ``leader[0]`` at the leading master's address, for redirects."""
    while True:
        leader[0] = await detector.wait_change(leader[0])


def _stop(client: KazooClient) -> None:
    client.stop()
    client.close()
