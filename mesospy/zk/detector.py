"""Follow the leading master through ZooKeeper: ``ZooKeeperDetector``.

Watches the children of the cluster path; the lowest ``json.info_<seq>`` znode is the
leader and its JSON names the leader's address. The detector owns its own KazooClient,
started lazily on first use (so it can be built outside an event loop, as the SDK and the
agent do). While the ZooKeeper connection is suspended it keeps answering with the last
leader it saw: a client would rather try the probable leader (which redirects it if it was
deposed) than stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.states import KazooState

from mesospy.v1 import common_pb2 as pb
from mesospy.zk.bounded import run_bounded
from mesospy.zk.master_info import master_address, master_info_from_json, sorted_contenders
from mesospy.zk.url import ZooKeeperUrl, parse_zk_url

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
# Seconds close() waits for the ZooKeeper session to close (a frozen server never answers).
STOP_TIMEOUT = 1.0


class NoLeaderError(TimeoutError):
    """No master led within the time a caller was willing to wait."""


class ZooKeeperDetector:
    """A client's view of which master leads under a ``zk://`` URL."""

    def __init__(self, url: ZooKeeperUrl | str, session_timeout: float = 10.0) -> None:
        self.url = parse_zk_url(url) if isinstance(url, str) else url
        self._session_timeout = session_timeout
        self._client: KazooClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._contenders: list[pb.MasterInfo] = []
        self._leader: pb.MasterInfo | None = None
        self._appointed: str | None = None
        self._changed = asyncio.Event()  # set and replaced on every change
        self._refreshed = asyncio.Event()  # the first look at ZooKeeper is done
        self._refresh_task: asyncio.Task[None] | None = None
        self._again = False
        self._closed = False

    # ------------------------------------------------------------------ public API

    async def detect(self, timeout: float | None = None) -> str:
        """The leader's ``ip:port``, waiting until there is one (``NoLeaderError`` on timeout)."""
        try:
            address = await self.wait_change(None, timeout)
        except TimeoutError:
            raise NoLeaderError(f"no leading master in {self.url} after {timeout}s") from None
        assert address is not None
        return address

    async def wait_change(self, previous: str | None, timeout: float | None = None) -> str | None:
        """Wait until the leader's address is not ``previous``; the new one (None: no leader)."""
        await self._ensure_started()
        async with asyncio.timeout(timeout):
            while (address := self._address()) == previous:
                await self._changed.wait()
        return address

    def appoint(self, address: str) -> None:
        """Follow a redirect until ZooKeeper next reports a different leader."""
        self._appointed = address
        self._notify()

    async def leader_info(self) -> pb.MasterInfo | None:
        """The leader's MasterInfo as it wrote it, or None if no master leads."""
        await self._ensure_started()
        await self._refreshed.wait()
        return self._leader

    async def contenders(self) -> list[pb.MasterInfo]:
        """Every contending master's MasterInfo, leader first."""
        await self._ensure_started()
        await self._refreshed.wait()
        return list(self._contenders)

    async def wait_contenders(self, previous: list[pb.MasterInfo]) -> list[pb.MasterInfo]:
        """Wait until the contending masters are not ``previous``; them, leader first."""
        await self._ensure_started()
        await self._refreshed.wait()
        while self._contenders == previous:
            await self._changed.wait()
        return list(self._contenders)

    async def close(self) -> None:
        """Stop watching and close the ZooKeeper connection."""
        self._closed = True
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
        client, self._client = self._client, None
        if client is not None:
            await run_bounded(partial(_stop, client), STOP_TIMEOUT, "closing the detector")

    # ------------------------------------------------------------------ internals

    def _address(self) -> str | None:
        if self._appointed is not None:
            return self._appointed
        return master_address(self._leader) if self._leader is not None else None

    async def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("detector is closed")
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        client = KazooClient(hosts=self.url.hosts, timeout=self._session_timeout)
        client.add_listener(self._on_state)
        self._client = client
        # start_async returns at once and keeps retrying in the background; a CONNECTED
        # state change then triggers the first look.
        await asyncio.to_thread(client.start_async)

    def _post(self, callback: Callable[[], None]) -> None:
        if self._loop is not None and not self._closed:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                self._loop.call_soon_threadsafe(callback)

    def _on_state(self, state: KazooState) -> None:
        if state == KazooState.CONNECTED:
            self._post(self._schedule_refresh)
        elif state == KazooState.LOST:
            self._post(self._forget)

    def _on_watch(self, _event: Any) -> None:
        self._post(self._schedule_refresh)

    def _forget(self) -> None:
        # A lost session means we cannot vouch for anything we saw; wait for a fresh look.
        self._set([], None)

    def _schedule_refresh(self) -> None:
        if self._closed:
            return
        if self._refresh_task is not None and not self._refresh_task.done():
            self._again = True
        else:
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        self._again = True
        while self._again and not self._closed and self._client is not None:
            self._again = False
            client = self._client
            try:
                contenders, leader = await asyncio.to_thread(self._look, client)
            except KazooException as exc:
                log.warning("detecting the leader in %s: %r; retrying", self.url, exc)
                if client.state == KazooState.CONNECTED:
                    self._again = True
                    await asyncio.sleep(RETRY_SECONDS)  # back off before the next attempt
                continue
            self._set(contenders, leader)
            self._refreshed.set()

    def _set(self, contenders: list[pb.MasterInfo], leader: pb.MasterInfo | None) -> None:
        if leader != self._leader:
            self._appointed = None  # ZooKeeper now knows better than the last redirect
            log.info("leading master: %s", master_address(leader) if leader is not None else "none")
        self._contenders = contenders
        self._leader = leader
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _look(self, client: KazooClient) -> tuple[list[pb.MasterInfo], pb.MasterInfo | None]:
        """Read the contenders (worker thread); leave a watch that fires on any change."""
        path = self.url.path
        try:
            names = sorted_contenders(client.get_children(path, watch=self._on_watch))
        except NoNodeError:
            # No master has run yet: watch for the folder to appear.
            if client.exists(path, watch=self._on_watch) is not None:
                return self._look(client)
            return [], None
        infos: list[pb.MasterInfo] = []
        leader: pb.MasterInfo | None = None
        first = True  # the lowest node still present leads, even if its JSON is unusable
        for name in names:
            try:
                data, _ = client.get(f"{path}/{name}")
            except NoNodeError:
                continue  # it left between the listing and now; its watch will fire
            try:
                info = master_info_from_json(data)
            except ValueError as exc:
                log.error("election znode %s/%s is unusable: %s", path, name, exc)
            else:
                infos.append(info)
                if first:
                    leader = info
            first = False
        return infos, leader


def _stop(client: KazooClient) -> None:
    with contextlib.suppress(KazooException):
        client.stop()
    client.close()
