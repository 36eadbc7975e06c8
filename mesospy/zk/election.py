"""Leader election among masters: ``MasterContender``.

Each master creates an ephemeral sequential znode ``<path>/json.info_<seq>`` holding its
MasterInfo as JSON; the lowest sequence leads (Mesos's convention). Leadership is lost the
moment the session is SUSPENDED, not only when it is LOST: a partitioned leader cannot know
whether its node still exists, so it must stop acting at once. If the connection comes back
within the same session and the node still leads, leadership is granted again (the owner
sees ``on_change(True)`` once more and must recover as for a first election). After LOST,
the contender bids again with a new node in the new session.

kazoo calls block, so they run in ``asyncio.to_thread``; kazoo's callbacks (connection
state, child watches) arrive on its threads and are moved onto the loop with
``call_soon_threadsafe``. ``on_change`` runs on the event loop.
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
from mesospy.zk.master_info import ELECTION_PREFIX, master_info_to_json, sorted_contenders

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
# Seconds withdrawing waits for the delete of the election znode: the node goes with the
# session anyway, and a frozen ZooKeeper must not hold a stopping master.
DELETE_TIMEOUT = 1.0


class MasterContender:
    """One master's bid for leadership under ``path`` (e.g. ``/mesospy``).

    ``client`` is a started KazooClient the caller owns (and stops after ``withdraw()``).
    ``on_change(leading)`` is called on the event loop each time leadership is gained or
    lost. Use ``node`` (the full path of this master's election znode) as the registry's
    fence while leading.
    """

    def __init__(
        self,
        client: KazooClient,
        path: str,
        master_info: pb.MasterInfo,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._client = client
        self._path = path.rstrip("/") or "/"
        self._data = master_info_to_json(master_info)
        self._on_change = on_change
        self._loop: asyncio.AbstractEventLoop | None = None
        self._node: str | None = None
        self._leading = False
        self._elected = asyncio.Event()
        self._deposed = asyncio.Event()
        self._deposed.set()
        # Bumped on every connection state change: a refresh that ran across one is stale.
        self._epoch = 0
        self._refresh_task: asyncio.Task[None] | None = None
        self._again = False
        self._closed = False

    @property
    def leading(self) -> bool:
        """Whether this master leads right now (False as soon as the session is SUSPENDED)."""
        return self._leading

    @property
    def node(self) -> str | None:
        """The full path of this master's election znode (None until created, or after LOST)."""
        return self._node

    async def start(self) -> None:
        """Enter the election: create the znode and learn whether it leads."""
        self._loop = asyncio.get_running_loop()
        self._client.add_listener(self._on_state)
        self._schedule_refresh()
        if self._refresh_task is not None:
            await asyncio.shield(self._refresh_task)

    async def wait_elected(self, timeout: float | None = None) -> str:
        """Wait until this master leads; return its election znode (the registry's fence)."""
        while True:
            await asyncio.wait_for(self._elected.wait(), timeout)
            if self._leading and self._node is not None:
                return self._node

    async def wait_deposed(self, timeout: float | None = None) -> None:
        """Wait until this master does not lead."""
        await asyncio.wait_for(self._deposed.wait(), timeout)

    async def withdraw(self) -> None:
        """Leave the election: stop leading and delete the znode (best effort)."""
        self._closed = True
        self._client.remove_listener(self._on_state)
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
        self._set_leading(False)
        node, self._node = self._node, None
        if node is None:
            return
        if self._client.state != KazooState.CONNECTED:
            # Unreachable: the node goes with the session. A delete now would wait for the
            # connection to come back, however long that takes, and so would the exit.
            log.info("not deleting %s: ZooKeeper is unreachable (it ends with the session)", node)
            return
        await run_bounded(partial(self._delete, node), DELETE_TIMEOUT, f"deleting {node}")

    # ------------------------------------------------------------------ kazoo threads

    def _on_state(self, state: KazooState) -> None:
        self._post(self._state_changed, state)

    def _on_children(self, _event: Any) -> None:
        self._post(self._schedule_refresh)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._closed:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                self._loop.call_soon_threadsafe(callback, *args)

    # ------------------------------------------------------------------ event loop

    def _state_changed(self, state: KazooState) -> None:
        self._epoch += 1
        if state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection suspended: no longer leading")
            self._set_leading(False)
        elif state == KazooState.LOST:
            log.warning("ZooKeeper session lost: election znode %s is gone", self._node)
            self._node = None
            self._set_leading(False)
        else:
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if self._closed:
            return
        if self._refresh_task is not None and not self._refresh_task.done():
            self._again = True
        else:
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        self._again = True
        while self._again and not self._closed:
            self._again = False
            epoch = self._epoch
            try:
                node, leading = await asyncio.to_thread(self._refresh, self._node)
            except KazooException as exc:
                log.warning("election under %s: %r; retrying", self._path, exc)
                if self._client.state == KazooState.CONNECTED:
                    self._again = True
                    await asyncio.sleep(RETRY_SECONDS)  # back off before the next attempt
                continue
            if epoch != self._epoch or self._closed:
                continue  # the connection changed meanwhile; its own refresh follows
            if node != self._node:
                # A new node means a new fence: whoever led with the old one must stop.
                self._set_leading(False)
            self._node = node
            self._set_leading(leading)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        (self._elected if leading else self._deposed).set()
        (self._deposed if leading else self._elected).clear()
        log.info("master %s %s", self._node, "is leading" if leading else "is not leading")
        if self._on_change is not None:
            try:
                self._on_change(leading)
            except Exception:
                log.exception("leadership callback failed")

    # ------------------------------------------------------------------ worker threads

    def _refresh(self, node: str | None) -> tuple[str, bool]:
        """Make sure this master has a node; return it and whether it is the lowest."""
        self._client.ensure_path(self._path)
        for _ in range(3):
            if node is None:
                node = self._own_node() or self._client.create(
                    f"{self._path}/{ELECTION_PREFIX}", self._data, ephemeral=True, sequence=True
                )
                log.info("contending for leadership as %s", node)
            contenders = sorted_contenders(
                self._client.get_children(self._path, watch=self._on_children)
            )
            name = node.rsplit("/", 1)[1]
            if name in contenders:
                connected = self._client.state == KazooState.CONNECTED
                return node, connected and contenders[0] == name
            log.warning("election znode %s vanished; contending again", node)
            node = None
        raise KazooException(f"election znode under {self._path} keeps vanishing")

    def _own_node(self) -> str | None:
        """A node this session already holds (a create whose reply was lost), if any."""
        if self._client.client_id is None:
            return None
        session_id = self._client.client_id[0]
        for name in sorted_contenders(self._client.get_children(self._path)):
            path = f"{self._path}/{name}"
            stat = self._client.exists(path)
            if stat is not None and stat.ephemeralOwner == session_id:
                return path
        return None

    def _delete(self, node: str) -> None:
        with contextlib.suppress(NoNodeError):
            self._client.delete(node)
