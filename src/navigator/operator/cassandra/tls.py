"""TLS for a Cassandra cluster: the CA, the members' certificates, when to
renew them, and the objects that carry them. Pure: certificates in and out
as PEM strings, the time and the keys given by the caller (a key is made when
none is given); creating the objects is the reconcile's.

Two ways to get certificates (`spec.tls.certManager`):

- the operator's own CA: a self-signed CA per cluster (Secret `<cluster>-ca`)
  signs one certificate per member, and each pool's members share one Secret
  (`<cluster>-<pool>-tls`: `<member>.crt`, `<member>.key` for every member and
  `ca.crt`), mounted by every pod of the pool, each pod using its own files;
- cert-manager: a Certificate per member, whose Secret `<member>-tls` holds
  `tls.crt`, `tls.key` and `ca.crt`.

A member's certificate serves both ends of internode TLS (server and client
auth), so the same one is presented when it accepts and when it connects.
Keys are EC P-256 in unencrypted PKCS#8, the form Cassandra's
PEMBasedSslContextFactory reads (`navigator.cassandra.config`).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from navigator.api.cassandra import (
    CassandraCluster,
    CassandraNodePool,
    CertManagerIssuer,
    TlsStatus,
)
from navigator.certs import builder, key_usage
from navigator.operator.cassandra.auth import GENERATED_LABEL
from navigator.operator.cassandra.builders.meta import (
    labels,
    member_name,
    metadata,
    name_of,
    namespace_of,
    nodes_service_name,
    pool_tls_secret_name,
)

CA_VALIDITY = dt.timedelta(days=3650)
MEMBER_DAYS = 365
# Certificates start a little in the past: a node whose clock is behind the
# operator's still accepts a certificate made just now.
BACKDATE = dt.timedelta(minutes=5)
# Renewed once less than this share of the lifetime is left (cert-manager's
# renewBefore says the same for its certificates: 2920h of 8760h).
RENEW_WHEN_LEFT = 1 / 3
CERT_MANAGER_DURATION, CERT_MANAGER_RENEW_BEFORE = "8760h", "2920h"

CA_CERT_KEY, CA_SECRET_CERT, CA_SECRET_KEY = "ca.crt", "tls.crt", "tls.key"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"): Cassandra reads no other form."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ca_common_name(cluster_name: str) -> str:
    return f"navigator-{cluster_name}-ca"


def new_ca(
    cluster_name: str, now: dt.datetime, key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[str, str]:
    """A self-signed CA for one cluster, valid 10 years: (certificate, key) as PEM."""
    key = key or _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name(cluster_name))])
    cert = (
        builder(name, name, key.public_key(), now - BACKDATE, now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def member_dns_names(cluster: str, namespace: str, member: str) -> list[str]:
    """A member's names through the cluster's headless Service (its pod's
    stable DNS name, short and fully qualified)."""
    host = f"{member}.{nodes_service_name(cluster)}.{namespace}.svc"
    return [host, f"{host}.cluster.local"]


def member_certificate(
    ca_cert_pem: str,
    ca_key_pem: str,
    member: str,
    service_dns_names: Sequence[str],
    ips: Sequence[str],
    now: dt.datetime,
    days: int = MEMBER_DAYS,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[str, str]:
    """One member's certificate, signed by the CA: (certificate, key) as PEM.
    Common name the member; SANs its DNS names and the IPs given; usable as
    server and as client (internode TLS uses it both ways)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = key or _new_key()
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in service_dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if not sans:
        raise ValueError(f"no DNS name or IP for {member}'s certificate")
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member)])
    end = now + dt.timedelta(days=days)
    cert = (
        builder(subject, ca_cert.subject, key.public_key(), now - BACKDATE, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def needs_renewal(cert_pem: str, now: dt.datetime) -> bool:
    """Less than a third of the certificate's lifetime is left, or it is not
    valid yet (made by a clock ahead of this one, or for later)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        return True
    return end - now < (end - start) * RENEW_WHEN_LEFT


def keystore_pem(cert_pem: str, key_pem: str) -> str:
    """The one file Cassandra's PEMBasedSslContextFactory reads as its keystore:
    the private key, then the certificate chain."""
    return key_pem.rstrip("\n") + "\n" + cert_pem.rstrip("\n") + "\n"


def ca_secret_name(cluster: CassandraCluster) -> str:
    return f"{name_of(cluster)}-ca"


def _encoded(files: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in files.items()}


def _secret(
    cluster: CassandraCluster,
    name: str,
    kind: str,
    files: Mapping[str, str],
    owner: Mapping[str, Any],
    pool: CassandraNodePool | None = None,
    secret_type: str = "Opaque",
) -> dict[str, Any]:
    """A Secret owned by the cluster. `data`, encoded here, rather than
    `stringData`: these Secrets are applied again on renewal, and the API
    server keeps only `data`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace_of(cluster),
            "labels": {**labels(cluster, pool), GENERATED_LABEL: kind},
            "ownerReferences": [dict(owner)],
        },
        "type": secret_type,
        "data": _encoded(files),
    }


def build_ca_secret(
    cluster: CassandraCluster, cert: str, key: str, owner: Mapping[str, Any]
) -> dict[str, Any]:
    """`<cluster>-ca`: the CA's certificate and key (type kubernetes.io/tls)."""
    files = {CA_SECRET_CERT: cert, CA_SECRET_KEY: key}
    return _secret(cluster, ca_secret_name(cluster), "ca", files, owner, None, "kubernetes.io/tls")


def build_pool_tls_secret(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    certs: Mapping[str, tuple[str, str]],
    ca_cert: str,
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    """`<cluster>-<pool>-tls`: `<member>.crt` and `<member>.key` for each
    member of `certs` (member -> (certificate, key)), and the CA's `ca.crt`.
    Every pod of the pool mounts it and uses the files named after it."""
    files = {CA_CERT_KEY: ca_cert}
    for member, (cert, key) in sorted(certs.items()):
        files[f"{member}.crt"] = cert
        files[f"{member}.key"] = key
    return _secret(cluster, pool_tls_secret_name(cluster, pool), "tls", files, owner, pool)


def secret_files(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """A Secret's `data`, decoded (entries that do not decode are left out)."""
    out = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def ca_from_secret(secret: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The CA's (certificate, key) from `<cluster>-ca`, if both are there and parse."""
    files = secret_files(secret)
    cert, key = files.get(CA_SECRET_CERT, ""), files.get(CA_SECRET_KEY, "")
    try:
        x509.load_pem_x509_certificate(cert.encode())
        serialization.load_pem_private_key(key.encode(), None)
    except ValueError:
        return None
    return cert, key


def _public_bytes(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def usable(cert_pem: str, key_pem: str, ca_cert_pem: str, now: dt.datetime) -> bool:
    """A member's certificate can stay: it parses, the CA signed it, its key
    is the one given, and it is not due for renewal."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        ca = x509.load_pem_x509_certificate(ca_cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), None)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if _public_bytes(cert.public_key()) != _public_bytes(key.public_key()):
        return False
    return not needs_renewal(cert_pem, now)


def pool_members(cluster: CassandraCluster, pool: CassandraNodePool, running: int) -> list[str]:
    """The members a pool's Secret holds certificates for: every ordinal the
    spec wants and every one its StatefulSet still runs (a member being
    scaled in keeps its certificate until it is gone)."""
    count = max(pool.replicas, running)
    return [member_name(cluster, pool, i) for i in range(count)]


@dataclass(frozen=True)
class PoolFiles:
    """What a pool's TLS Secret should hold, and which members got a new
    certificate (none before, or renewed) in the making."""

    files: dict[str, str]
    issued: tuple[str, ...] = ()
    renewed: tuple[str, ...] = ()


def pool_tls_files(
    existing: Mapping[str, str],
    members: Sequence[str],
    ca: tuple[str, str],
    dns_names: Callable[[str], list[str]],
    now: dt.datetime,
) -> PoolFiles:
    """The pool Secret's files: a member's certificate is kept while `usable`,
    else made anew (missing, from another CA, or due for renewal). Members
    not in `members` are dropped."""
    ca_cert, ca_key = ca
    files = {CA_CERT_KEY: ca_cert}
    issued: list[str] = []
    renewed: list[str] = []
    for member in members:
        cert, key = existing.get(f"{member}.crt", ""), existing.get(f"{member}.key", "")
        if not (cert and key and usable(cert, key, ca_cert, now)):
            cert, key = member_certificate(ca_cert, ca_key, member, dns_names(member), (), now)
            (renewed if existing.get(f"{member}.crt") else issued).append(member)
        files[f"{member}.crt"], files[f"{member}.key"] = cert, key
    return PoolFiles(files, tuple(issued), tuple(renewed))


def files_from_member_secrets(
    member_secrets: Mapping[str, Mapping[str, Any] | None],
) -> tuple[dict[str, str], list[str]]:
    """cert-manager: the pool Secret's files assembled from each member's
    `<member>-tls` (`tls.crt`, `tls.key`, `ca.crt`); and the members whose
    Secret is not (completely) there yet."""
    files: dict[str, str] = {}
    waiting = []
    for member, secret in sorted(member_secrets.items()):
        got = secret_files(secret)
        cert, key, ca = got.get("tls.crt"), got.get("tls.key"), got.get(CA_CERT_KEY)
        if not (cert and key and ca):
            waiting.append(member)
            continue
        files[f"{member}.crt"], files[f"{member}.key"] = cert, key
        files.setdefault(CA_CERT_KEY, ca)
    return files, waiting


def earliest_expiry(files: Mapping[str, str]) -> dt.datetime | None:
    """When the first of the members' certificates in `files` expires."""
    ends = []
    for name, text in files.items():
        if name.endswith(".crt") and name != CA_CERT_KEY:
            try:
                ends.append(x509.load_pem_x509_certificate(text.encode()).not_valid_after_utc)
            except ValueError:
                continue
    return min(ends) if ends else None


def build_pool_secret_from_files(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    files: Mapping[str, str],
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    """`<cluster>-<pool>-tls` with exactly `files` (see `build_pool_tls_secret`)."""
    return _secret(cluster, pool_tls_secret_name(cluster, pool), "tls", files, owner, pool)


def member_secret_name(member: str) -> str:
    """The Secret cert-manager writes a member's certificate into."""
    return f"{member}-tls"


def build_certificate(
    cluster: CassandraCluster, pool: CassandraNodePool, member: str, issuer: CertManagerIssuer
) -> dict[str, Any]:
    """A cert-manager Certificate for one member (named like its Secret,
    `<member>-tls`), from the spec's issuer. PKCS#8 keys: Cassandra reads no
    other form (cert-manager's default for ECDSA is SEC1)."""
    ref = issuer.issuer_ref
    name = member_secret_name(member)
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata(cluster, name, pool),
        "spec": {
            "secretName": name,
            "secretTemplate": {"labels": labels(cluster, pool)},
            "commonName": member,
            "dnsNames": member_dns_names(name_of(cluster), namespace_of(cluster), member),
            "duration": CERT_MANAGER_DURATION,
            "renewBefore": CERT_MANAGER_RENEW_BEFORE,
            "privateKey": {
                "algorithm": "ECDSA",
                "size": 256,
                "encoding": "PKCS8",
                "rotationPolicy": "Always",
            },
            "usages": ["digital signature", "server auth", "client auth"],
            "issuerRef": {"name": ref.name, "kind": ref.kind, "group": ref.group},
        },
    }


@dataclass(frozen=True)
class TlsOutcome:
    """What a pass found: `message` says why TLS is not ready ("" when it
    is); `expires`, when the first member's certificate expires; `ca`, the
    CA certificate clients (the operator's own CQL) verify members against."""

    message: str = ""
    expires: dt.datetime | None = None
    ca: str = field(default="", repr=False)


def issuer_of(cluster: CassandraCluster) -> str:
    manager = cluster.spec.tls.cert_manager
    if manager is None:
        return f"Secret {ca_secret_name(cluster)}"
    ref = manager.issuer_ref
    return f"cert-manager {ref.kind} {ref.name} ({ref.group})"


def tls_status(cluster: CassandraCluster, outcome: TlsOutcome) -> TlsStatus | None:
    """`status.tls`; None while TLS is off."""
    spec = cluster.spec.tls
    if not spec.enabled:
        return None
    return TlsStatus(
        client_encryption=spec.client_encryption,
        internode_encryption=spec.internode_encryption,
        issuer=issuer_of(cluster),
        ready=not outcome.message and outcome.expires is not None,
        not_after=outcome.expires.strftime("%Y-%m-%dT%H:%M:%SZ") if outcome.expires else "",
        message=outcome.message,
    )
