"""Find the leading master.

A master is named as ``"host:port"`` (one master, e.g. the embedded default) or as
``"zk://h1:2181,h2:2181/path"`` (masters contending in ZooKeeper; comes with high
availability). Clients (agents, the SDK, the CLI) ask a ``MasterDetector`` for the leader's
address before each connection attempt, so they follow leader changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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

    Only ``host:port`` is supported until ZooKeeper detection lands; a ``zk://`` spec is
    refused with a clear error rather than silently misread.
    """

    def __init__(self, spec: str) -> None:
        if spec.startswith("zk://"):
            raise MasterSpecError(f"{spec!r}: zk:// master detection is not available yet")
        self._leader = parse_host_port(spec, default_port=5050)

    async def detect(self) -> str:
        """The leading master's address as ``host:port``."""
        return str(self._leader)

    def appoint(self, address: str) -> None:
        """Follow a redirect: a non-leading master answered with the leader's address."""
        self._leader = parse_host_port(address, default_port=5050)
