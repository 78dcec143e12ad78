"""TLS's pure parts: the cluster's CA, a member's certificate and when to
renew it, the Secrets that carry them and cert-manager's Certificate."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from navigator.api.cassandra import CassandraCluster, CertManagerIssuer
from navigator.operator.cassandra.builders import build_statefulset
from navigator.operator.cassandra.builders.meta import labels, owner_reference, service_name
from navigator.operator.cassandra.builders.statefulset import pool_revision
from navigator.operator.cassandra.tls import (
    TlsOutcome,
    build_ca_secret,
    build_certificate,
    build_pool_tls_secret,
    ca_from_secret,
    earliest_expiry,
    files_from_member_secrets,
    keystore_pem,
    member_certificate,
    member_dns_names,
    needs_renewal,
    new_ca,
    pool_members,
    pool_tls_files,
    tls_status,
    usable,
)

pytestmark = pytest.mark.unit

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
MEMBER = "c-r1-0"
NAMES = member_dns_names("c", "db", MEMBER)


def cluster(tls: dict[str, object] | None = None) -> CassandraCluster:
    return CassandraCluster.model_validate(
        {
            "metadata": {"name": "c", "namespace": "db", "uid": "u"},
            "spec": {
                "version": "5.0.6",
                "nodePools": [{"name": "r1", "replicas": 2}],
                "tls": tls or {},
            },
        }
    )


@pytest.fixture(scope="module")
def ca() -> tuple[str, str]:
    return new_ca("c", NOW)


@pytest.fixture(scope="module")
def leaf(ca: tuple[str, str]) -> tuple[str, str]:
    return member_certificate(*ca, MEMBER, NAMES, ["10.0.0.5"], NOW)


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_the_ca_is_a_self_signed_p256_ca_for_ten_years(ca: tuple[str, str]) -> None:
    cert = load(ca[0])
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "navigator-c-ca"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)  # its own key signed it
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    lifetime = cert.not_valid_after_utc - NOW
    assert lifetime == dt.timedelta(days=3650)
    assert cert.not_valid_before_utc <= NOW


def test_keys_are_unencrypted_pkcs8_which_is_what_cassandra_reads(
    ca: tuple[str, str], leaf: tuple[str, str]
) -> None:
    for cert_pem, key_pem in (ca, leaf):
        assert key_pem.startswith("-----BEGIN PRIVATE KEY-----")
        key = serialization.load_pem_private_key(key_pem.encode(), None)
        assert key.public_key() == load(cert_pem).public_key()


def test_a_given_key_is_used() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert, _ = new_ca("c", NOW, key=key)
    assert load(cert).public_key() == key.public_key()


def test_a_member_certificate_verifies_against_the_ca_as_server_and_client(
    ca: tuple[str, str], leaf: tuple[str, str]
) -> None:
    cert, ca_cert = load(leaf[0]), load(ca[0])
    cert.verify_directly_issued_by(ca_cert)
    policy = PolicyBuilder().store(Store([ca_cert])).time(NOW + dt.timedelta(days=1))
    for name in NAMES:
        chain = policy.build_server_verifier(x509.DNSName(name)).verify(cert, [])
        assert chain[-1] == ca_cert
    server_ip = x509.IPAddress(ipaddress.ip_address("10.0.0.5"))
    policy.build_server_verifier(server_ip).verify(cert, [])
    client = policy.build_client_verifier().verify(cert, [])
    assert client.chain[-1] == ca_cert
    with pytest.raises(x509.verification.VerificationError):
        policy.build_server_verifier(x509.DNSName("c-r1-1.c-nodes.db.svc")).verify(cert, [])
    other_ca = load(new_ca("other", NOW)[0])
    with pytest.raises(x509.verification.VerificationError):
        PolicyBuilder().store(Store([other_ca])).time(NOW).build_client_verifier().verify(cert, [])


def test_a_member_certificate_names_the_member_and_serves_both_ways(
    leaf: tuple[str, str],
) -> None:
    cert = load(leaf[0])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == MEMBER
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "c-r1-0.c-nodes.db.svc",
        "c-r1-0.c-nodes.db.svc.cluster.local",
    ]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(ekus) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - NOW == dt.timedelta(days=365)


def test_member_dns_names_go_through_the_headless_service() -> None:
    svc = service_name(cluster())
    assert member_dns_names("c", "db", MEMBER) == [
        f"{MEMBER}.{svc}.db.svc",
        f"{MEMBER}.{svc}.db.svc.cluster.local",
    ]


def test_a_certificate_needs_names() -> None:
    with pytest.raises(ValueError, match="no DNS name or IP"):
        member_certificate(*new_ca("c", NOW), MEMBER, [], [], NOW)


def test_renewal_once_less_than_a_third_of_the_lifetime_is_left(leaf: tuple[str, str]) -> None:
    cert = load(leaf[0])
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    lifetime = end - start
    second = dt.timedelta(seconds=1)
    assert not needs_renewal(leaf[0], start)  # 0 of its lifetime
    assert not needs_renewal(leaf[0], start + lifetime * 2 / 3 - second)
    assert not needs_renewal(leaf[0], start + lifetime * 2 / 3)  # exactly a third left
    assert needs_renewal(leaf[0], start + lifetime * 2 / 3 + second)
    assert needs_renewal(leaf[0], end)  # all of it
    assert needs_renewal(leaf[0], end + second)
    assert needs_renewal(leaf[0], start - second)  # not valid yet


def test_the_keystore_is_the_key_then_the_certificate(leaf: tuple[str, str]) -> None:
    cert, key = leaf
    text = keystore_pem(cert, key)
    assert text.index("BEGIN PRIVATE KEY") < text.index("BEGIN CERTIFICATE")
    assert text == key + cert  # both PEMs already end with one newline


def decoded(secret: dict[str, object]) -> dict[str, str]:
    data = secret["data"]
    assert isinstance(data, dict)
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_the_ca_secret() -> None:
    c = cluster()
    owner = owner_reference(c)
    secret = build_ca_secret(c, "CERT", "KEY", owner)
    assert secret["metadata"]["name"] == "c-ca"
    assert secret["metadata"]["namespace"] == "db"
    assert secret["metadata"]["ownerReferences"] == [owner]
    assert secret["metadata"]["labels"]["navigator.dev/cluster"] == "c"
    assert secret["type"] == "kubernetes.io/tls"
    assert decoded(secret) == {"tls.crt": "CERT", "tls.key": "KEY"}


def test_the_pool_secret_holds_every_member_and_the_ca() -> None:
    c = cluster()
    pool = c.spec.node_pools[0]
    owner = owner_reference(c)
    certs = {"c-r1-1": ("C1", "K1"), "c-r1-0": ("C0", "K0")}
    secret = build_pool_tls_secret(c, pool, certs, "CA", owner)
    assert secret["metadata"]["name"] == "c-r1-tls"
    assert secret["metadata"]["ownerReferences"] == [owner]
    assert secret["metadata"]["labels"]["navigator.dev/pool"] == "r1"
    assert secret["type"] == "Opaque"
    assert decoded(secret) == {
        "ca.crt": "CA",
        "c-r1-0.crt": "C0",
        "c-r1-0.key": "K0",
        "c-r1-1.crt": "C1",
        "c-r1-1.key": "K1",
    }


def test_a_cert_manager_certificate_per_member() -> None:
    c = cluster({"certManager": {"issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}}})
    pool = c.spec.node_pools[0]
    issuer = c.spec.tls.cert_manager
    assert isinstance(issuer, CertManagerIssuer)
    cert = build_certificate(c, pool, MEMBER, issuer)
    assert cert["apiVersion"] == "cert-manager.io/v1"
    assert cert["kind"] == "Certificate"
    meta = cert["metadata"]
    assert (meta["name"], meta["namespace"]) == ("c-r1-0-tls", "db")
    assert meta["labels"] == labels(c, pool)
    assert meta["ownerReferences"] == [owner_reference(c)]
    spec = cert["spec"]
    assert spec["secretName"] == "c-r1-0-tls"
    assert spec["commonName"] == MEMBER
    assert spec["dnsNames"] == NAMES
    assert spec["privateKey"] == {
        "algorithm": "ECDSA",
        "size": 256,
        "encoding": "PKCS8",
        "rotationPolicy": "Always",
    }
    assert {"server auth", "client auth"} <= set(spec["usages"])
    assert (spec["duration"], spec["renewBefore"]) == ("8760h", "2920h")
    assert spec["issuerRef"] == {
        "name": "corp-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }


def test_tls_is_off_by_default_and_an_issuer_defaults_to_a_cert_manager_issuer() -> None:
    tls = cluster().spec.tls
    assert (tls.client_encryption, tls.internode_encryption, tls.cert_manager) == (
        False,
        False,
        None,
    )
    ref = cluster({"certManager": {"issuerRef": {"name": "i"}}}).spec.tls.cert_manager
    assert ref is not None
    assert (ref.issuer_ref.kind, ref.issuer_ref.group) == ("Issuer", "cert-manager.io")


# --- what a pool's Secret holds (pool_tls_files) and the status ---------------------


def names(member: str) -> list[str]:
    return member_dns_names("c", "db", member)


def test_a_pool_secret_gets_a_certificate_for_every_member_and_the_ca(
    ca: tuple[str, str],
) -> None:
    made = pool_tls_files({}, ["c-r1-0", "c-r1-1"], ca, names, NOW)
    assert set(made.files) == {"ca.crt", "c-r1-0.crt", "c-r1-0.key", "c-r1-1.crt", "c-r1-1.key"}
    assert made.files["ca.crt"] == ca[0]
    assert made.issued == ("c-r1-0", "c-r1-1")
    assert made.renewed == ()
    for member in ("c-r1-0", "c-r1-1"):
        assert usable(made.files[f"{member}.crt"], made.files[f"{member}.key"], ca[0], NOW)


def test_usable_certificates_are_kept_as_they_are(ca: tuple[str, str]) -> None:
    first = pool_tls_files({}, ["c-r1-0"], ca, names, NOW)
    later = NOW + dt.timedelta(days=30)
    again = pool_tls_files(first.files, ["c-r1-0"], ca, names, later)
    assert again.files == first.files
    assert (again.issued, again.renewed) == ((), ())


def test_a_new_member_is_added_without_touching_the_others(ca: tuple[str, str]) -> None:
    first = pool_tls_files({}, ["c-r1-0"], ca, names, NOW)
    grown = pool_tls_files(first.files, ["c-r1-0", "c-r1-1"], ca, names, NOW)
    assert grown.files["c-r1-0.crt"] == first.files["c-r1-0.crt"]
    assert grown.issued == ("c-r1-1",)


def test_a_member_that_left_loses_its_certificate(ca: tuple[str, str]) -> None:
    two = pool_tls_files({}, ["c-r1-0", "c-r1-1"], ca, names, NOW)
    one = pool_tls_files(two.files, ["c-r1-0"], ca, names, NOW)
    assert not {"c-r1-1.crt", "c-r1-1.key"} & set(one.files)


def test_a_certificate_due_for_renewal_is_renewed(ca: tuple[str, str]) -> None:
    first = pool_tls_files({}, ["c-r1-0"], ca, names, NOW)
    due = NOW + dt.timedelta(days=250)  # less than a third of 365 days left
    renewed = pool_tls_files(first.files, ["c-r1-0"], ca, names, due)
    assert renewed.renewed == ("c-r1-0",)
    assert renewed.files["c-r1-0.crt"] != first.files["c-r1-0.crt"]
    assert load(renewed.files["c-r1-0.crt"]).not_valid_after_utc > due + dt.timedelta(days=300)


def test_a_certificate_from_another_ca_or_with_another_key_is_replaced(
    ca: tuple[str, str],
) -> None:
    other = new_ca("other", NOW)
    foreign = pool_tls_files({}, ["c-r1-0"], other, names, NOW).files
    assert not usable(foreign["c-r1-0.crt"], foreign["c-r1-0.key"], ca[0], NOW)
    replaced = pool_tls_files(foreign, ["c-r1-0"], ca, names, NOW)
    assert replaced.renewed == ("c-r1-0",)
    load(replaced.files["c-r1-0.crt"]).verify_directly_issued_by(load(ca[0]))
    mine = pool_tls_files({}, ["c-r1-0", "c-r1-1"], ca, names, NOW).files
    assert not usable(mine["c-r1-0.crt"], mine["c-r1-1.key"], ca[0], NOW)  # keys swapped
    assert not usable("not a certificate", mine["c-r1-0.key"], ca[0], NOW)


def test_pool_members_cover_the_spec_and_what_still_runs() -> None:
    c = cluster()
    pool = c.spec.node_pools[0]  # replicas 2
    assert pool_members(c, pool, 0) == ["c-r1-0", "c-r1-1"]
    assert pool_members(c, pool, 3) == ["c-r1-0", "c-r1-1", "c-r1-2"]  # scaling in


def test_the_ca_comes_from_its_secret_only_when_it_parses(ca: tuple[str, str]) -> None:
    c = cluster()
    owner = owner_reference(c)
    assert ca_from_secret(build_ca_secret(c, *ca, owner)) == ca
    assert ca_from_secret(build_ca_secret(c, "junk", ca[1], owner)) is None
    assert ca_from_secret(None) is None


def test_cert_manager_secrets_assemble_the_pool_secret() -> None:
    def secret(files: dict[str, str]) -> dict[str, object]:
        return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()}}

    issued = {
        "c-r1-0": secret({"tls.crt": "C0", "tls.key": "K0", "ca.crt": "CA"}),
        "c-r1-1": None,  # not issued yet
        "c-r1-2": secret({"tls.crt": "C2"}),  # incomplete
    }
    files, waiting = files_from_member_secrets(issued)
    assert files == {"c-r1-0.crt": "C0", "c-r1-0.key": "K0", "ca.crt": "CA"}
    assert waiting == ["c-r1-1", "c-r1-2"]


def test_earliest_expiry_is_the_first_member_certificate_to_expire(ca: tuple[str, str]) -> None:
    early = pool_tls_files({}, ["c-r1-0"], ca, names, NOW).files
    late = pool_tls_files({}, ["c-r1-1"], ca, names, NOW + dt.timedelta(days=10)).files
    files = {**early, **late}
    assert earliest_expiry(files) == load(early["c-r1-0.crt"]).not_valid_after_utc
    assert earliest_expiry({"ca.crt": ca[0]}) is None  # the CA is not a member


def test_tls_status_is_absent_while_off_and_says_who_issues() -> None:
    assert tls_status(cluster(), TlsOutcome()) is None
    on = cluster({"clientEncryption": True})
    expires = NOW + dt.timedelta(days=365)
    status = tls_status(on, TlsOutcome(expires=expires))
    assert status is not None
    assert (status.client_encryption, status.internode_encryption) == (True, False)
    assert status.issuer == "Secret c-ca"
    assert (status.ready, status.not_after) == (True, "2026-01-01T00:00:00Z")
    managed = cluster({"internodeEncryption": True, "certManager": {"issuerRef": {"name": "corp"}}})
    waiting = tls_status(managed, TlsOutcome(message="waiting for cert-manager to issue: x"))
    assert waiting is not None
    assert not waiting.ready
    assert waiting.issuer == "cert-manager Issuer corp (cert-manager.io)"
    assert "waiting" in waiting.message


# --- the pods: the pool's Secret mounted, the pilot told where ----------------------


def test_a_pool_with_tls_mounts_its_secret_read_only_and_tells_the_pilot() -> None:
    c = cluster({"clientEncryption": True, "internodeEncryption": True})
    pool = c.spec.node_pools[0]
    pod = build_statefulset(c, pool, replicas=2)["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "tls", "secret": {"secretName": "c-r1-tls", "defaultMode": 0o440}}
    ]
    [container] = pod["containers"]
    assert {"name": "tls", "mountPath": "/etc/navigator/tls", "readOnly": True} in container[
        "volumeMounts"
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NAVIGATOR_TLS_DIR"] == "/etc/navigator/tls"
    assert json.loads(env["NAVIGATOR_CONFIG"])["tls"] == {"client": True, "internode": True}


def test_a_cluster_without_tls_keeps_its_pod_template_and_revision() -> None:
    """Clusters made before TLS existed must not roll when the operator is upgraded."""
    c = cluster()
    pool = c.spec.node_pools[0]
    pod = build_statefulset(c, pool, replicas=2)["spec"]["template"]["spec"]
    assert "volumes" not in pod
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert "NAVIGATOR_TLS_DIR" not in env
    assert "tls" not in json.loads(env["NAVIGATOR_CONFIG"])
    on = cluster({"internodeEncryption": True})
    assert pool_revision(c, pool) != pool_revision(on, on.spec.node_pools[0])
