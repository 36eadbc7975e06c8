"""ZooKeeper digest authentication and ACLs for mesospy's znodes.

Masters started with ``--zk-auth user:pass`` (or ``--zk-auth-file``) authenticate to
ZooKeeper with that digest and create every znode with the ACL "that user: all; anyone:
read". Agents, frameworks and the CLI still find the leader without credentials, but no
other ZooKeeper client can create election znodes (fake a leader), delete them, or write
the registry. A cluster path created earlier without ACLs is taken over at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.security import ACL, make_acl, make_digest_acl

log = logging.getLogger(__name__)


class ZooKeeperAuthError(ValueError):
    """The ZooKeeper credentials cannot be used (the message says why)."""


@dataclass(frozen=True)
class ZooKeeperAuth:
    """A digest user and password for ZooKeeper."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, text: str, source: str = "--zk-auth") -> ZooKeeperAuth:
        user, sep, password = text.strip().partition(":")
        if not sep or not user or not password:
            raise ZooKeeperAuthError(f"{source}: expected user:password")
        return cls(user, password)

    @classmethod
    def load(cls, path: Path) -> ZooKeeperAuth:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ZooKeeperAuthError(f"cannot read {str(path)!r}: {exc.strerror}") from exc
        return cls.parse(text, str(path))

    def __str__(self) -> str:  # shown by GetFlags: never the password
        return f"{self.user}:***"

    @property
    def acl(self) -> list[ACL]:
        """Every permission for this user; reading (leader detection) for anyone."""
        return [
            make_digest_acl(self.user, self.password, all=True),
            make_acl("world", "anyone", read=True),
        ]

    def client_options(self) -> dict[str, Any]:
        """KazooClient keyword arguments: authenticate, and create znodes with the ACL."""
        return {"auth_data": [("digest", f"{self.user}:{self.password}")], "default_acl": self.acl}


def client_options(auth: ZooKeeperAuth | None) -> dict[str, Any]:
    return auth.client_options() if auth is not None else {}


def _tree(client: KazooClient, path: str) -> Iterator[str]:
    yield path
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    for child in children:
        yield from _tree(client, f"{path.rstrip('/')}/{child}")


def secure_path(client: KazooClient, path: str, auth: ZooKeeperAuth) -> None:
    """Create the cluster path with the ACL, or put the ACL on an existing tree (blocking).

    Raises ``ZooKeeperAuthError`` when the tree belongs to someone else.
    """
    client.ensure_path(path)
    acl = auth.acl
    current, _ = client.get_acls(path)
    if list(current) == acl:
        return
    try:
        for node in _tree(client, path):
            client.set_acls(node, acl)
    except NoAuthError as exc:
        raise ZooKeeperAuthError(
            f"the znodes under {path} are protected by other ZooKeeper credentials"
        ) from exc
    log.info("ZooKeeper ACLs set on %s", path)
