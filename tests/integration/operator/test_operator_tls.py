"""TLS against the real API server (pilots simulated): the cluster's CA and
the pools' certificate Secrets, made before the members that need them and
left alone while usable; a certificate the CA did not sign is replaced;
spec.tls cannot change on a running cluster; cert-manager missing is said in
status."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType
from test_operator_reconcile import NAME, create, grow, patch_spec, status

from navigator.operator.cassandra.reconcile import Reconciler

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BOTH = {"clientEncryption": True, "internodeEncryption": True}


async def secret_files(client: AsyncClient, namespace: str, name: str) -> dict[str, str]:
    secret = (await client.get(Secret, name, namespace=namespace)).to_dict()
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def reasons(client: AsyncClient, namespace: str) -> list[str]:
    return [str(e.reason) async for e in client.list(Event, namespace=namespace)]


def issuer_cn(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return str(cert.issuer.rfc4514_string())


async def test_certificates_are_made_before_the_members_and_left_alone(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=2, tls=BOTH)
    await reconciler.reconcile(namespace, NAME)
    # The first pass: the CA, and a certificate for every member the spec
    # asks for, before any member's pod exists.
    ca = await secret_files(aclient, namespace, f"{NAME}-ca")
    assert set(ca) == {"tls.crt", "tls.key"}
    pool = await secret_files(aclient, namespace, f"{NAME}-rack1-tls")
    members = [f"{NAME}-rack1-0", f"{NAME}-rack1-1"]
    assert set(pool) == {"ca.crt"} | {f"{m}.{ext}" for m in members for ext in ("crt", "key")}
    assert pool["ca.crt"] == ca["tls.crt"]
    ca_cert = x509.load_pem_x509_certificate(ca["tls.crt"].encode())
    for member in members:
        cert = x509.load_pem_x509_certificate(pool[f"{member}.crt"].encode())
        cert.verify_directly_issued_by(ca_cert)

    await grow(aclient, reconciler, namespace, 2)
    before = (await aclient.get(Secret, f"{NAME}-rack1-tls", namespace=namespace)).to_dict()
    for _ in range(3):
        await reconciler.reconcile(namespace, NAME)
    after = (await aclient.get(Secret, f"{NAME}-rack1-tls", namespace=namespace)).to_dict()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    sts = (await aclient.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)).to_dict()
    pod = sts["spec"]["template"]["spec"]
    assert pod["volumes"][0]["secret"]["secretName"] == f"{NAME}-rack1-tls"

    tls = (await status(aclient, namespace))["tls"]
    assert (tls["clientEncryption"], tls["internodeEncryption"]) == (True, True)
    assert tls["issuer"] == f"Secret {NAME}-ca"
    assert tls["ready"] is True
    assert tls["notAfter"].startswith(str(cert.not_valid_after_utc.year))
    said = await reasons(aclient, namespace)
    assert said.count("CACreated") == 1
    assert "CertificatesIssued" in said
    # No key material in status or events.
    written = str(await status(aclient, namespace)) + str(said)
    assert "PRIVATE KEY" not in written


async def test_a_certificate_the_ca_did_not_sign_is_replaced(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=1, tls={"internodeEncryption": True})
    await reconciler.reconcile(namespace, NAME)
    member = f"{NAME}-rack1-0"
    name = f"{NAME}-rack1-tls"
    good = await secret_files(aclient, namespace, name)
    forged = base64.b64encode(b"not a certificate").decode()
    await aclient.patch(
        Secret,
        name,
        {"data": {f"{member}.crt": forged}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    await reconciler.reconcile(namespace, NAME)
    again = await secret_files(aclient, namespace, name)
    assert again[f"{member}.crt"] != "not a certificate"
    assert again[f"{member}.key"] != good[f"{member}.key"]  # a new key with it
    assert issuer_cn(again[f"{member}.crt"]) == f"CN=navigator-{NAME}-ca"
    assert "CertificatesRenewed" in await reasons(aclient, namespace)


async def test_tls_cannot_change_on_a_running_cluster(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=1, tls={"clientEncryption": True})
    with pytest.raises(ApiError) as refused:
        await patch_spec(aclient, namespace, {"tls": {"clientEncryption": False}})
    assert refused.value.status.code == 422
    assert "spec.tls" in str(refused.value.status.message)
    assert "tls cannot change once the cluster exists" in str(refused.value.status.message)
    # Other changes still go through.
    await patch_spec(aclient, namespace, {"nodePools": [{"name": "rack1", "replicas": 2}]})


async def test_cert_manager_missing_is_said_in_status(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    issuer: dict[str, Any] = {"issuerRef": {"name": "corp", "kind": "ClusterIssuer"}}
    await create(
        aclient, namespace, replicas=1, tls={"clientEncryption": True, "certManager": issuer}
    )
    await reconciler.reconcile(namespace, NAME)
    tls = (await status(aclient, namespace))["tls"]
    assert tls["ready"] is False
    assert tls["issuer"] == "cert-manager ClusterIssuer corp (cert-manager.io)"
    assert "cert-manager's Certificate kind is not installed" in tls["message"]
    names = [s.metadata.name async for s in aclient.list(Secret, namespace=namespace)]
    assert f"{NAME}-ca" not in names  # cert-manager's issuer signs, not a CA of ours
