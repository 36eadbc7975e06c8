"""``mesospy certs init DIR``: a CA and certificates for a test cluster, in one command.

Makes a private CA, a server certificate for masters and agents (valid for the given host
names and IP addresses, loopback by default) and a client certificate per principal, so
trying TLS and mutual TLS takes no openssl incantations. For production, bring your own PKI.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


class CertificateError(ValueError):
    """The certificates cannot be made as asked (the message says why)."""


@dataclass(frozen=True)
class Issued:
    """Paths of what ``init_certificates`` wrote."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]  # principal -> (cert, key)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mesospy test cluster"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() for c in host):
                raise CertificateError(
                    f"{host!r} is neither a host name nor an IP address"
                ) from None
            names.append(x509.DNSName(host))
    return names


def _write(path: Path, data: bytes, private: bool) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _sign(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int,
    *,
    ca: bool = False,
    usage: Sequence[x509.ObjectIdentifier] = (),
    alt_names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def init_certificates(
    directory: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    principals: Sequence[str] = ("operator",),
    days: int = 365,
) -> Issued:
    """Write ca.pem/ca.key, server.pem/server.key and <principal>.pem/.key to ``directory``.

    Refuses to overwrite an existing CA, so a cluster's certificates are never replaced by
    accident.
    """
    if days <= 0:
        raise CertificateError(f"days must be positive, not {days}")
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists():
        raise CertificateError(f"{directory / 'ca.pem'} exists; use another directory")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("mesospy test CA")
    ca_cert = _sign(ca_name, ca_key, ca_name, ca_key, days, ca=True)
    _write(directory / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM), False)
    _write(directory / "ca.key", _key_pem(ca_key), True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _sign(
        _name("mesospy server"),
        server_key,
        ca_name,
        ca_key,
        days,
        # Masters and agents are servers and also clients of each other (mutual TLS).
        usage=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        alt_names=_alt_names(hosts),
    )
    _write(directory / "server.pem", server_cert.public_bytes(serialization.Encoding.PEM), False)
    _write(directory / "server.key", _key_pem(server_key), True)
    clients: dict[str, tuple[Path, Path]] = {}
    for principal in principals:
        if not principal or "/" in principal or principal in ("ca", "server"):
            raise CertificateError(f"principal {principal!r} cannot name a certificate file")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _sign(
            _name(principal), key, ca_name, ca_key, days, usage=(ExtendedKeyUsageOID.CLIENT_AUTH,)
        )
        cert_path, key_path = directory / f"{principal}.pem", directory / f"{principal}.key"
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), False)
        _write(key_path, _key_pem(key), True)
        clients[principal] = (cert_path, key_path)
    return Issued(
        directory / "ca.pem",
        directory / "ca.key",
        directory / "server.pem",
        directory / "server.key",
        clients,
    )
