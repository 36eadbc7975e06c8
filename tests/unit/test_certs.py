"""`mesospy certs init`: a CA, a server certificate and client certificates that verify."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from mesospy.security.certs import CertificateError, init_certificates


def test_certificates_chain_to_the_ca_and_name_the_hosts(tmp_path: Path) -> None:
    issued = init_certificates(
        tmp_path, hosts=["localhost", "127.0.0.1"], principals=["operator", "agent"]
    )
    ca = x509.load_pem_x509_certificate(issued.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(issued.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    for principal, (cert_path, key_path) in issued.clients.items():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca)
        cn = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
        assert cn == principal
        assert key_path.stat().st_mode & 0o077 == 0  # private keys are private


def test_an_existing_ca_is_never_overwritten(tmp_path: Path) -> None:
    init_certificates(tmp_path)
    before = (tmp_path / "ca.pem").read_bytes()
    with pytest.raises(CertificateError, match="exists"):
        init_certificates(tmp_path)
    assert (tmp_path / "ca.pem").read_bytes() == before


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="neither a host name"):
        init_certificates(tmp_path / "a", hosts=["bad host"])
    with pytest.raises(CertificateError, match="cannot name"):
        init_certificates(tmp_path / "b", principals=["../x"])
