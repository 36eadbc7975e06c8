"""Certificates and secured clusters for the security tests."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import message_factory
from google.protobuf.message import Message

from mesospy.security.certs import Issued, init_certificates
from mesospy.security.channels import ClientSecurity
from mesospy.security.credentials import Credential
from mesospy.security.tls import TLSConfig
from mesospy.testing.clusters import fast_master_flags
from mesospy.testing.security import tls_flags
from mesospy.testing.security import write_credentials as shared_write_credentials
from mesospy.v1 import agent_pb2, operator_pb2, scheduler_pb2

PRINCIPALS = ("operator", "batch", "other", "agent")

FAST_MASTER = fast_master_flags(max_agent_ping_timeouts=5)


@dataclass(frozen=True)
class Certs:
    """The cluster's CA and certificates, plus bad ones an attacker might try."""

    issued: Issued
    rogue: Issued  # another CA: its certificates must not be accepted
    expired: tuple[Path, Path]  # a client certificate of the real CA, expired

    def server_flags(self, require_client_cert: bool = True) -> list[str]:
        return tls_flags(self.issued, require_client_cert)

    def client(self, principal: str | None = "operator", ca: Path | None = None) -> TLSConfig:
        cert, key = self.issued.clients[principal] if principal else (None, None)
        return TLSConfig(cert, key, ca or self.issued.ca_cert)

    def security(
        self, principal: str | None = "operator", secret: str | None = None
    ) -> ClientSecurity:
        credential = Credential(principal, secret) if principal and secret else None
        return ClientSecurity(self.client(principal), credential)


def _expired_client(issued: Issued, directory: Path) -> tuple[Path, Path]:
    ca_key = serialization.load_pem_private_key(issued.ca_key.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(issued.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = directory / "expired.pem", directory / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    base = tmp_path_factory.mktemp("tls")
    issued = init_certificates(base / "cluster", principals=PRINCIPALS)
    rogue = init_certificates(base / "rogue", principals=PRINCIPALS)
    return Certs(issued, rogue, _expired_client(issued, base))


SECRETS = {name: f"{name}-secret-{index}" for index, name in enumerate(PRINCIPALS)}


def write_credentials(directory: Path) -> Path:
    return shared_write_credentials(directory, SECRETS)


def creds(principal: str, secret: str | None = None) -> ClientSecurity:
    """A plain-text client authenticating as ``principal`` (with its right secret)."""
    return ClientSecurity(None, Credential(principal, secret or SECRETS[principal]))


def all_methods() -> list[tuple[str, Any, Any, bool]]:
    """(full method name, request class, response class, server-streaming) of every RPC
    of the master's services."""
    methods = []
    for module in (scheduler_pb2, agent_pb2, operator_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name == "mesospy.v1.Agent":
                continue  # the agent's own service
            for method in service.methods:
                request = message_factory.GetMessageClass(method.input_type)
                response = message_factory.GetMessageClass(method.output_type)
                name = f"/{service.full_name}/{method.name}"
                methods.append((name, request, response, method.server_streaming))
    return methods


def call(
    address: str,
    method: str,
    request: Message,
    response: Any,
    streaming: bool,
    metadata: tuple[tuple[str, str], ...] = (),
    timeout: float = 10.0,
) -> grpc.StatusCode:
    """Make one call on a fresh plain channel; the status code it ends with."""
    return call_details(address, method, request, response, streaming, metadata, timeout)[0]


def call_details(
    address: str,
    method: str,
    request: Message,
    response: Any,
    streaming: bool,
    metadata: tuple[tuple[str, str], ...] = (),
    timeout: float = 10.0,
) -> tuple[grpc.StatusCode, str]:
    """The status code and message one call ends with."""
    with grpc.insecure_channel(address) as channel:
        try:
            if streaming:
                stream = channel.unary_stream(
                    method,
                    request_serializer=type(request).SerializeToString,
                    response_deserializer=response.FromString,
                )(request, metadata=metadata, timeout=timeout)
                next(iter(stream), None)
                stream.cancel()
            else:
                channel.unary_unary(
                    method,
                    request_serializer=type(request).SerializeToString,
                    response_deserializer=response.FromString,
                )(request, metadata=metadata, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""
