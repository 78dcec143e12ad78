"""A local certificate authority for the control plane (TLS everywhere).

Certificates are made with `cryptography` (no external tool, nothing fetched).
Every file is written once; a second `up` reuses what exists, so clients keep
trusting the cluster across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from navigator.certs import builder, key_usage

VALIDITY = dt.timedelta(days=3650)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertSpec:
    """What one leaf certificate says: its subject and what it may be used for."""

    name: str
    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False
    client: bool = False


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass
class Authority:
    """A CA on disk that signs leaf certificates into the same directory."""

    directory: Path
    _key: PrivateKey | None = field(default=None, repr=False)
    _cert: x509.Certificate | None = field(default=None, repr=False)

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def key_path(self) -> Path:
        return self.directory / "ca.key"

    def ensure(self) -> None:
        """Create the CA unless it already exists."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.cert_path.exists() and self.key_path.exists():
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
            self._key = key
            self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "navigator-local-ca")])
        now = _now()
        cert = (
            builder(name, name, key.public_key(), now - dt.timedelta(minutes=5), now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage(cert_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(self.key_path, key)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._key, self._cert = key, cert

    def issue(self, spec: CertSpec) -> KeyPair:
        """Sign a leaf certificate for `spec` unless one exists already."""
        pair = KeyPair(self.directory / f"{spec.name}.crt", self.directory / f"{spec.name}.key")
        if pair.cert.exists() and pair.key.exists():
            return pair
        if self._key is None or self._cert is None:
            self.ensure()
        assert self._key is not None
        assert self._cert is not None
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(pair.key, key)
        pair.cert.write_bytes(
            _sign_leaf(spec, key, self._key, self._cert).public_bytes(serialization.Encoding.PEM)
        )
        return pair


def _sign_leaf(
    spec: CertSpec, key: PrivateKey, ca_key: PrivateKey, ca_cert: x509.Certificate
) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in spec.organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name))
    usages = []
    if spec.server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if spec.client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    now = _now()
    leaf = (
        builder(
            x509.Name(attrs),
            ca_cert.subject,
            key.public_key(),
            now - dt.timedelta(minutes=5),
            now + VALIDITY,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    if sans:
        leaf = leaf.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return leaf.sign(ca_key, hashes.SHA256())


def ensure_service_account_keys(directory: Path) -> KeyPair:
    """The RSA key pair that signs and verifies service-account tokens."""
    pair = KeyPair(directory / "sa.pub", directory / "sa.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pair.key, key)
    pair.cert.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pair


def _write_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
