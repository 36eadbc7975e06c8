"""TLS settings shared by every gRPC server and client of mesospy.

One ``TLSConfig`` (certificate, key, CA) serves both ends: a server needs its certificate
and key, and asks clients for certificates of their own (mutual TLS) when it is given a CA;
a client checks the server against the CA and presents its certificate when it has one.
Masters and agents are both: the master calls agents, agents call the master.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

CERT_ENV = "MESOSPY_TLS_CERT"
KEY_ENV = "MESOSPY_TLS_KEY"
CA_ENV = "MESOSPY_TLS_CA"


class TLSError(ValueError):
    """The TLS settings cannot be used (the message names the file or flag)."""


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSError(f"cannot read the TLS {what} {str(path)!r}: {exc.strerror}") from exc
    if b"-----BEGIN" not in data:
        raise TLSError(f"the TLS {what} {str(path)!r} is not PEM")
    return data


@dataclass(frozen=True)
class TLSConfig:
    """Paths of a PEM certificate (chain), its private key and a CA bundle."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    # A server refuses clients without a certificate signed by the CA (mutual TLS). Without
    # it gRPC asks for client certificates but does not verify them, so only a required
    # (verified) certificate may name a principal.
    require_client_cert: bool = False

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise TLSError("--tls-cert and --tls-key go together: give both or neither")
        if self.require_client_cert and self.ca is None:
            raise TLSError("requiring client certificates needs --tls-ca to verify them")

    @classmethod
    def from_values(
        cls,
        cert: str | Path | None,
        key: str | Path | None,
        ca: str | Path | None,
        require_client_cert: bool = False,
    ) -> TLSConfig | None:
        """The config for these (flag) values; None when none is given (plain text)."""
        if not (cert or key or ca):
            if require_client_cert:
                raise TLSError("requiring client certificates needs TLS (--tls-cert, --tls-ca)")
            return None
        return cls(
            Path(cert) if cert else None,
            Path(key) if key else None,
            Path(ca) if ca else None,
            require_client_cert,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TLSConfig | None:
        """From $MESOSPY_TLS_CERT, $MESOSPY_TLS_KEY and $MESOSPY_TLS_CA."""
        env = os.environ if env is None else env
        return cls.from_values(env.get(CERT_ENV), env.get(KEY_ENV), env.get(CA_ENV))

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials for a listening port; with a CA, client certificates are checked."""
        if self.cert is None or self.key is None:
            raise TLSError("a TLS server needs --tls-cert and --tls-key")
        pair = (_read(self.key, "key"), _read(self.cert, "certificate"))
        roots = _read(self.ca, "CA") if self.ca is not None else None
        return grpc.ssl_server_credentials(
            [pair], root_certificates=roots, require_client_auth=self.require_client_cert
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials for a client: trust the CA (else the system's), present our cert."""
        roots = _read(self.ca, "CA") if self.ca is not None else None
        key = _read(self.key, "key") if self.key is not None else None
        cert = _read(self.cert, "certificate") if self.cert is not None else None
        return grpc.ssl_channel_credentials(
            root_certificates=roots, private_key=key, certificate_chain=cert
        )

    def check(self) -> None:
        """Read every file once, so a bad path fails at start-up, not at the first call."""
        for path, what in ((self.cert, "certificate"), (self.key, "key"), (self.ca, "CA")):
            if path is not None:
                _read(path, what)


def tls_failure_hint(details: str, peer: str = "the server") -> str:
    """What to check when a connection died the way TLS mismatches make it die ("" else)."""
    if not any(s in details.lower() for s in ("socket closed", "handshake", "ssl", "reset")):
        return ""
    return (
        f" (if {peer} serves TLS: --tls-ca must name the CA of its certificate, and one "
        "requiring client certificates needs --tls-cert/--tls-key)"
    )
