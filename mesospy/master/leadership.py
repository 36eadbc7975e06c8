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
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState

from mesospy.master.config import MasterConfig
from mesospy.master.master import Master
from mesospy.security.zk_acl import ZooKeeperAuthError, client_options, secure_path
from mesospy.zk.bounded import run_bounded
from mesospy.zk.detector import ZooKeeperDetector
from mesospy.zk.election import MasterContender
from mesospy.zk.registry import RegistrySnapshot, ZooKeeperRegistry
from mesospy.zk.url import parse_zk_url

log = logging.getLogger(__name__)
# How often a standby master looks at the registry's epoch (one small read).
READ_AHEAD_CHECK = 2.0
# Seconds a stopping master waits for its ZooKeeper session to close (a frozen server
# never answers; the session then expires by itself).
STOP_TIMEOUT = 1.0
# How often the connection to ZooKeeper is looked at (see _exit_when_unreachable).
CONNECTION_CHECK = 0.2
T = TypeVar("T")


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
    master.leader_info = detector.leader_info
    follower = asyncio.get_running_loop().create_task(_follow(detector, leader))
    contender = MasterContender(client, url.path, master.info)
    unreachable = asyncio.get_running_loop().create_task(
        _exit_when_unreachable(client, url.hosts, config.zk_session_timeout)
    )
    try:
        await _unless(contender.start(), unreachable)
        if on_ready is not None:
            on_ready(master)
        ahead: list[RegistrySnapshot | None] = [None]
        reader = asyncio.get_running_loop().create_task(
            _read_ahead(ZooKeeperRegistry(client, url.path, fence_node=None), ahead)
        )
        try:
            node = await _unless(contender.wait_elected(), unreachable)
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
        await _unless(contender.wait_deposed(), unreachable)
        master.leading = False
        raise LeadershipLost(
            f"this master lost its connection to ZooKeeper at {url.hosts} and with it the "
            "leadership; exiting so that it restarts as a fresh contender"
        )
    finally:
        unreachable.cancel()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await contender.withdraw()
        await detector.close()
        await run_bounded(partial(_stop, client), STOP_TIMEOUT, "closing the ZooKeeper session")


async def _exit_when_unreachable(client: KazooClient, hosts: str, session_timeout: float) -> None:
    """Raise ``ZooKeeperUnreachable`` once ZooKeeper has been out of reach for longer than
    the session timeout: by then the session (and this master's bid) is gone for sure, and
    a master that cannot tell who leads has nothing to serve (Mesos masters exit too)."""
    since: float | None = None
    while True:
        await asyncio.sleep(CONNECTION_CHECK)
        if client.state == KazooState.CONNECTED:
            since = None
            continue
        now = time.monotonic()
        since = now if since is None else since
        if now - since > session_timeout:
            raise ZooKeeperUnreachable(
                f"ZooKeeper at {hosts} has been unreachable for {now - since:.1f} s, longer "
                f"than the session timeout ({session_timeout:g} s): exiting so that a "
                "supervisor restarts this master once ZooKeeper is back"
            )


async def _unless(work: Awaitable[T], unreachable: asyncio.Task[None]) -> T:
    """``work``'s result, unless ZooKeeper turns out unreachable first (then that error)."""
    job = asyncio.ensure_future(work)
    try:
        await asyncio.wait({job, unreachable}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()
        raise
    if job.done():
        return job.result()
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    unreachable.result()  # raises ZooKeeperUnreachable
    raise AssertionError("the unreachable watch ended without an error")


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
