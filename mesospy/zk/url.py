"""Parse ZooKeeper URLs: ``zk://host1:2181,host2:2181/path``.

The path names the cluster's folder in ZooKeeper (default ``/mesospy``): masters contend
there and the registry lives under it. Credentials in the URL (``zk://user:pass@...``) are
refused rather than silently ignored: masters take ZooKeeper credentials with ``--zk-auth``
or ``--zk-auth-file``, which keep them out of URLs that every agent and CLI sees.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PATH = "/mesospy"
DEFAULT_PORT = 2181
SCHEME = "zk://"


@dataclass(frozen=True)
class ZooKeeperUrl:
    """A parsed ``zk://`` URL: the servers (``host:port``) and the cluster path."""

    servers: tuple[str, ...]
    path: str

    @property
    def hosts(self) -> str:
        """The servers as kazoo's ``hosts`` string: ``h1:2181,h2:2181``."""
        return ",".join(self.servers)

    def __str__(self) -> str:
        return f"{SCHEME}{self.hosts}{self.path}"


def _parse_server(text: str, url: str) -> str:
    if not text:
        raise ValueError(f"{url!r}: empty server in the host list (stray comma?)")
    if text.startswith("["):  # [v6]:port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"{url!r}: malformed IPv6 server {text!r}: expected [addr]:port")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{url!r}: malformed server {text!r}: expected [addr]:port")
        host = f"[{host}]"
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = ""
        if not host:
            raise ValueError(f"{url!r}: server {text!r} has no host")
        if ":" in port_text:
            raise ValueError(f"{url!r}: server {text!r}: write IPv6 addresses as [addr]:port")
    if not port_text:
        return f"{host}:{DEFAULT_PORT}"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{url!r}: server {text!r} has a bad port: expected 1-65535")
    return f"{host}:{int(port_text)}"


def _parse_path(path: str, url: str) -> str:
    if not path or path == "/":
        return DEFAULT_PATH
    path = path.rstrip("/")
    parts = path.split("/")[1:]
    for part in parts:
        if part in ("", ".", "..") or any(c in part for c in "\0?#"):
            raise ValueError(
                f"{url!r}: bad path {path!r}: use /name[/name...], without empty, '.' "
                "or '..' segments"
            )
    return path


def parse_zk_url(url: str) -> ZooKeeperUrl:
    """Parse ``zk://h1[:port],h2[:port][/path]``; raise ``ValueError`` saying what is wrong.

    A server without a port gets 2181; a URL without a path gets ``/mesospy``.
    """
    text = url.strip()
    if not text.startswith(SCHEME):
        raise ValueError(f"{url!r}: a ZooKeeper URL starts with zk://, e.g. zk://h1:2181/mesospy")
    rest = text[len(SCHEME) :]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise ValueError(
            f"{url!r}: credentials in the URL are not supported; give masters --zk-auth-file"
        )
    if not authority:
        raise ValueError(f"{url!r}: no ZooKeeper servers: expected zk://host:port[,host:port]/path")
    servers = tuple(_parse_server(s.strip(), url) for s in authority.split(","))
    return ZooKeeperUrl(servers=servers, path=_parse_path(slash + path, url))
