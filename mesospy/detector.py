"""Find the leading master.

A master is named as ``"host:port"`` (one master, e.g. the embedded default) or as
``"zk://h1:2181,h2:2181/path"`` (masters contending in ZooKeeper). Clients (agents, the
SDK, the CLI) ask a ``MasterDetector`` for the leader's address before each connection
attempt, so they follow leader changes.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from mesospy.v1 import common_pb2 as pb
from mesospy.zk.detector import NoLeaderError, ZooKeeperDetector
from mesospy.zk.url import parse_zk_url

__all__ = [
    "DEFAULT_MASTER",
    "MASTER_ENV",
    "HostPort",
    "MasterDetector",
    "MasterSpecError",
    "NoLeaderError",
    "parse_host_port",
    "resolve_master_spec",
]

DEFAULT_MASTER = "127.0.0.1:5050"
MASTER_ENV = "MESOSPY_MASTER"


class MasterSpecError(ValueError):
    """The master was named in a form mesospy cannot use."""


@dataclass(frozen=True)
class HostPort:
    """A network address as ``host:port``."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host_port(text: str, default_port: int | None = None) -> HostPort:
    """Parse ``host:port`` (``[v6]:port`` for IPv6); raise ``MasterSpecError`` if malformed."""
    text = text.strip()
    if not text:
        raise MasterSpecError("empty address: expected host:port, e.g. 127.0.0.1:5050")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise MasterSpecError(f"address {text!r} has no port: expected host:port")
        return HostPort(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MasterSpecError(f"address {text!r} has a bad port: expected 1-65535")
    if not host:
        raise MasterSpecError(f"address {text!r} has no host: expected host:port")
    return HostPort(host, int(port_text))


def resolve_master_spec(spec: str | None) -> str:
    """The master to use: ``spec`` if given, else ``$MESOSPY_MASTER``, else 127.0.0.1:5050."""
    return spec or os.environ.get(MASTER_ENV) or DEFAULT_MASTER


class MasterDetector:
    """Tells a client where the leading master is.

    ``spec`` is ``"host:port"`` (that master, until a redirect names another) or
    ``"zk://h1:2181,h2:2181/path"`` (the master whose ``json.info_`` znode is lowest under
    the path, followed as it changes). Building one does no I/O; the ZooKeeper connection
    opens on first use. Call ``close()`` when done.
    """

    def __init__(self, spec: str) -> None:
        self._zk: ZooKeeperDetector | None = None
        self._leader: HostPort | None = None
        if spec.strip().startswith("zk://"):
            try:
                self._zk = ZooKeeperDetector(parse_zk_url(spec))
            except ValueError as exc:
                raise MasterSpecError(str(exc)) from exc
        else:
            self._leader = parse_host_port(spec, default_port=5050)

    @property
    def uses_zookeeper(self) -> bool:
        """Whether the leader is found through ZooKeeper."""
        return self._zk is not None

    async def detect(self, timeout: float | None = None) -> str:
        """The leading master's address as ``host:port``.

        With ZooKeeper this waits until some master leads; ``timeout`` (seconds) bounds the
        wait and raises ``NoLeaderError`` (a ``TimeoutError``) when it runs out.
        """
        if self._zk is not None:
            return await self._zk.detect(timeout)
        return str(self._leader)

    def appoint(self, address: str) -> None:
        """Follow a redirect: a non-leading master answered with the leader's address.

        With ZooKeeper the redirect is ignored: ZooKeeper is the truth, and a master that
        has not yet seen a leader change may name a leader that is already dead (following
        it would strand the client on a dead address until the next change).
        """
        leader = parse_host_port(address, default_port=5050)
        if self._zk is None:
            self._leader = leader

    async def wait_change(self, previous: str | None, timeout: float) -> str | None:
        """Wait up to ``timeout`` seconds for the leader to differ from ``previous``.

        Returns the new leader's address, or ``previous`` if nothing changed in time (a
        ``host:port`` master never changes on its own). Clients use it instead of a plain
        back-off sleep, so that a newly elected master is contacted at once.
        """
        if self._zk is None:
            await asyncio.sleep(timeout)
            return previous
        try:
            return await self._zk.wait_change(previous, timeout)
        except TimeoutError:
            return previous

    async def leader_info(self) -> pb.MasterInfo | None:
        """The leader's MasterInfo (None if none leads).

        Without ZooKeeper only the address is known: hostname, ip and port from the spec.
        """
        if self._zk is not None:
            return await self._zk.leader_info()
        assert self._leader is not None
        host, port = self._leader.host, self._leader.port
        return pb.MasterInfo(
            ip=host,
            port=port,
            hostname=host,
            address=pb.Address(hostname=host, ip=host, port=port),
            pid=f"master@{self._leader}",
        )

    async def contenders(self) -> list[pb.MasterInfo]:
        """Every master contending for leadership, leader first (just the one without ZK)."""
        if self._zk is not None:
            return await self._zk.contenders()
        info = await self.leader_info()
        return [info] if info is not None else []

    async def wait_contenders(self, previous: list[pb.MasterInfo]) -> list[pb.MasterInfo]:
        """Wait until the contending masters (leader first) are not ``previous``; them.
        Without ZooKeeper they never change: this waits until cancelled."""
        if self._zk is None:
            await asyncio.Event().wait()
        assert self._zk is not None
        return await self._zk.wait_contenders(previous)

    async def wait_deposed(self, leader: str) -> str:
        """Wait until ZooKeeper names a leader other than ``leader`` (a moment with no
        leader does not count); its address. Without ZooKeeper: until cancelled."""
        if self._zk is None:
            await asyncio.Event().wait()
        assert self._zk is not None
        current: str | None = leader
        while True:
            current = await self._zk.wait_change(current)
            if current is not None and current != leader:
                return current

    async def close(self) -> None:
        """Release the ZooKeeper connection, if any (a no-op for ``host:port``)."""
        if self._zk is not None:
            await self._zk.close()
