"""Throw-away certificate authorities and server certificates for 127.0.0.1/localhost:
good ones, and expired, wrong-host and self-signed ones."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    ca_cert: Path  # what a client trusts (HubClient(ca_file=...), or the test's system store)
    server_cert: Path
    server_key: Path
    other_ca_cert: Path  # a CA that did NOT sign the server certificate


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class ServerFiles:
    cert: Path
    key: Path


def _server_cert(
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    names: tuple[str, ...],
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _write(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_path: Path,
           key_path: Path) -> ServerFiles:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ServerFiles(cert_path, key_path)


class CertificateAuthority:
    """A CA made in the test, able to issue server certificates (good and bad ones)."""

    def __init__(self, folder: Path, common: str = "Supervisor Desk test CA") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.key, self.cert = _ca(common)
        self.cert_path = folder / f"{common.lower().replace(' ', '-')}.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        name: str,
        names: tuple[str, ...] = LOOPBACK_NAMES,
        *,
        valid_from: timedelta = timedelta(minutes=-5),
        valid_for: timedelta = timedelta(days=1),
    ) -> ServerFiles:
        """``name``.pem/.key for ``names``, valid from now+valid_from for ``valid_for``."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.now(UTC) + valid_from
        cert = _server_cert(key, self.key, self.cert.subject, names, start, start + valid_for)
        return _write(cert, key, self.folder / f"{name}.pem", self.folder / f"{name}.key")


def self_signed(folder: Path, names: tuple[str, ...] = LOOPBACK_NAMES) -> ServerFiles:
    """A server certificate that vouches for itself (no CA)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = _server_cert(key, key, _name(names[0]), names, now - timedelta(minutes=5),
                        now + timedelta(days=1))
    return _write(cert, key, folder / "self-signed.pem", folder / "self-signed.key")


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(folder)
    other = CertificateAuthority(folder, "Someone else's CA")
    server = ca.issue("server")
    pki = Pki(folder / "ca.pem", server.cert, server.key, folder / "other-ca.pem")
    ca.cert_path.rename(pki.ca_cert)
    other.cert_path.rename(pki.other_ca_cert)
    return pki
