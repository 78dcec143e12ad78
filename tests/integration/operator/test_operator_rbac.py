"""deploy/operator's RBAC is enough, and no more than the code needs: the real
operator process runs with a token of its ServiceAccount (TokenRequest) and
takes a cluster through create, scale-out, scale-in (decommission, Pilot and
volume handling) and scale-out again, with no 403 in its log."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Event, Service, ServiceAccount
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from opkube import cluster_manifest, members, report

from navigator.operator.core.kube import CassandraClusterResource, PilotResource
from navigator.pilot.rbac import PILOT_RULES
from navigator.testing.operator import OperatorProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RBAC = Path(__file__).parents[3] / "deploy" / "operator" / "rbac.yaml"
SYSTEM = "navigator-system"
ACCOUNT = "navigator-operator"
NAME = "guarded"


def rbac_for(namespace: str) -> list[dict[str, Any]]:
    """deploy/operator/rbac.yaml moved into `namespace`; cluster-scoped
    objects get names of their own so concurrent sessions do not clash."""
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    text = yaml.safe_dump_all(docs).replace(f"namespace: {SYSTEM}", f"namespace: {namespace}")
    out = list(yaml.safe_load_all(text))
    for doc in out:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            doc["metadata"]["name"] = f"{ACCOUNT}-{namespace}"
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{ACCOUNT}-{namespace}"
    return out


def token_kubeconfig(admin: Path, token: str) -> dict[str, Any]:
    """The admin kubeconfig's server and CA with the ServiceAccount's token."""
    config = yaml.safe_load(admin.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    server = dict(cluster["cluster"])
    if "certificate-authority" in server:
        ca = (admin.parent / server.pop("certificate-authority")).read_bytes()
        server["certificate-authority-data"] = base64.b64encode(ca).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": ACCOUNT}}],
        "current-context": "local",
    }


@pytest.fixture
def operator_log(
    local_cluster: Any, namespace: str, navigator_crds: None, tmp_path: Path
) -> Iterator[Path]:
    """The operator, as its ServiceAccount, with its Lease in `namespace`."""
    objects = rbac_for(namespace)
    local_cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))
    token = local_cluster.kubectl(
        "create", "token", ACCOUNT, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    kubeconfig = tmp_path / "operator.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(token_kubeconfig(local_cluster.kubeconfig, token)))
    op = OperatorProcess(
        kubeconfig, tmp_path / "operator.log", namespace, identity="rbac", resync=2
    ).start()
    try:
        yield op.log
    finally:
        op.stop()
        for doc in objects:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                local_cluster.kubectl(
                    "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found"
                )


def tail(log: Path) -> str:
    return log.read_text()[-4000:]


def forbidden(log: Path) -> list[str]:
    return [
        line
        for line in log.read_text().splitlines()
        if " 403 " in line or "forbidden" in line.lower()
    ]


async def until(check: Any, log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert not forbidden(log), forbidden(log)[:5]
        try:
            if await check():
                return
        except Exception:  # not there yet
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"not reached in time; operator log:\n{tail(log)}")


async def replicas(client: AsyncClient, namespace: str) -> int:
    sts = await client.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)
    return int(sts.spec.replicas or 0) if sts.spec else 0


async def grow_to(client: AsyncClient, namespace: str, size: int, log: Path) -> None:
    async def grown() -> bool:
        await report(client, namespace, await members(client, namespace, NAME))
        return await replicas(client, namespace) == size

    await until(grown, log)


def test_rbac_holds_what_the_pilot_role_grants() -> None:
    """The escalation rule: the operator may only write a Role that grants
    what it holds itself (deploy/operator/rbac.yaml says why)."""
    role = next(d for d in rbac_for("x") if d["kind"] == "ClusterRole")
    held = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for rule in PILOT_RULES:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert (group, resource, verb) in held


async def test_operator_runs_a_cluster_with_its_own_service_account(
    aclient: AsyncClient, namespace: str, local_cluster: Any, operator_log: Path
) -> None:
    log = operator_log
    obj: Any = CassandraClusterResource(cluster_manifest(NAME, namespace, replicas=2))
    await aclient.create(obj)
    await grow_to(aclient, namespace, 2, log)
    for res, name in [
        (ServiceAccount, f"{NAME}-pilot"),
        (Role, f"{NAME}-pilot"),
        (RoleBinding, f"{NAME}-pilot"),
        (Service, f"{NAME}-nodes"),
        (PodDisruptionBudget, NAME),
        (PilotResource, f"{NAME}-rack1-0"),
        (PilotResource, f"{NAME}-rack1-1"),
    ]:
        got = await aclient.get(res, name, namespace=namespace)
        assert got.metadata is not None
        assert got.metadata.managedFields is not None
        assert "navigator-operator" in {f.manager for f in got.metadata.managedFields}
    lease = await aclient.get(Lease, "navigator-operator", namespace=namespace)
    assert lease.spec is not None
    assert lease.spec.holderIdentity == "rbac"

    # Scale-in: the decommission intent, then removal of the member, its
    # Pilot and the labelling of its kept volume.
    await aclient.patch(
        CassandraClusterResource,
        NAME,
        {"spec": {"nodePools": [{"name": "rack1", "replicas": 1}]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    leaving = f"{NAME}-rack1-1"
    names = [f"{NAME}-rack1-0", leaving]

    async def intent() -> str:
        # The pilots keep reporting meanwhile, as real ones do: the member
        # last added may have had no pod yet when `grow_to` returned.
        await report(aclient, namespace, names)
        pilot: Any = await aclient.get(PilotResource, leaving, namespace=namespace)
        return str(pilot.spec["intents"][0]["id"])

    await until(intent, log)
    done = {leaving: [{"id": await intent(), "action": "Decommission", "phase": "Succeeded"}]}

    async def removed() -> bool:
        if await replicas(aclient, namespace) == 1:
            return True
        await report(aclient, namespace, names, outcomes=done, gone=frozenset({leaving}))
        return False

    await until(removed, log)
    # Scale-out again: the kept volume (if the StatefulSet controller made
    # one) is deleted before the ordinal comes back.
    await aclient.patch(
        CassandraClusterResource,
        NAME,
        {"spec": {"nodePools": [{"name": "rack1", "replicas": 2}]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    await grow_to(aclient, namespace, 2, log)
    await asyncio.sleep(3)  # one more resync: its requests must pass too
    assert not forbidden(log), forbidden(log)[:5]
    reasons = {e.reason async for e in aclient.list(Event, namespace=namespace)}
    assert {"CreatingPool", "ScalingOut", "DecommissionRequested", "RemovingMember"} <= reasons
    assert "DeletedDecommissionedVolume" in reasons  # the volume path ran too
    denied = local_cluster.kubectl(
        "auth",
        "can-i",
        "list",
        "secrets",
        f"--as=system:serviceaccount:{namespace}:{ACCOUNT}",
        "-A",
        check=False,
    )
    assert denied.stdout.strip() == "no"
