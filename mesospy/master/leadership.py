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
from kazoo.exceptions import AuthFailedError, KazooException
from kazoo.handlers.threading import KazooTimeoutError

from mesospy.master.config import MasterConfig
from mesospy.master.master import Master
from mesospy.security.zk_acl import ZooKeeperAuthError, client_options, secure_path
from mesospy.zk.detector import ZooKeeperDetector
from mesospy.zk.election import MasterContender
from mesospy.zk.registry import RegistrySnapshot, ZooKeeperRegistry
from mesospy.zk.url import parse_zk_url

log = logging.getLogger(__name__)
# How often a standby master looks at the registry's epoch (one small read).
READ_AHEAD_CHECK = 2.0


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
        ahead: list[RegistrySnapshot | None] = [None]
        reader = asyncio.get_running_loop().create_task(
            _read_ahead(ZooKeeperRegistry(client, url.path, fence_node=None), ahead)
        )
        try:
            node = await contender.wait_elected()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        log.info("elected leading master (%s)", node)
        registry = ZooKeeperRegistry(client, url.path, fence_node=node)
        if ahead[0] is not None:
            registry.warm(ahead[0])
        master.use_registry(registry)
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


async def _read_ahead(reader: ZooKeeperRegistry, ahead: list[RegistrySnapshot | None]) -> None:
    """While standing by, keep ``ahead[0]`` a snapshot of the registry (read only, never
    written): read again once the epoch has moved and then held still for a check, so a
    burst of registrations is read once, after it, not throughout."""
    seen: int | None = None
    while True:
        await asyncio.sleep(READ_AHEAD_CHECK)
        try:
            epoch = await asyncio.to_thread(reader.epoch)
            current = ahead[0]
            if epoch is not None and epoch == seen and (current is None or current.epoch != epoch):
                ahead[0] = await asyncio.to_thread(reader.read)
                log.info("read the registry ahead (epoch %d)", epoch)
            seen = epoch
        except KazooException as exc:
            log.info("could not read the registry ahead: %r", exc)
        except Exception:  # e.g. a node that is not JSON: the leader reads it (and says so)
            log.exception("could not read the registry ahead")


async def _follow(detector: ZooKeeperDetector, leader: list[str | None]) -> None:
    """Keep ``leader[0]`` at the leading master's address, for redirects."""
    while True:
        leader[0] = await detector.wait_change(leader[0])


def _stop(client: KazooClient) -> None:
    client.stop()
    client.close()
