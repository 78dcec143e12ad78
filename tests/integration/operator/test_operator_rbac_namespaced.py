"""deploy/operator-namespaced against the real API server: as rendered by
kustomize, its RBAC is enough for the operator watching one namespace, and it
grants nothing namespaced anywhere else.

The install is moved for the test: its `navigator-system` becomes a namespace
of the test's own (the ServiceAccount and the Lease), the example watched
namespace `cassandra` becomes the test's `namespace`, and cluster-scoped
objects get names of their own. The real operator process runs with a token
of the ServiceAccount, watching that namespace only, and takes a cluster
through create, scale-in (claim labelled) and scale-out (claim deleted), with
no 403 in its log; a cluster in another namespace is left alone. A table of
`kubectl auth can-i` checks as the ServiceAccount shows what it may do where.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Event, Service, ServiceAccount
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from opkube import cluster_manifest, members, report
from test_operator_rbac import forbidden, token_kubeconfig, until

from navigator.operator.cli import watched_namespaces
from navigator.operator.core.kube import CassandraClusterResource, PilotResource
from navigator.testing.operator import OperatorProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DIR = Path(__file__).parents[3] / "deploy" / "operator-namespaced"
SYSTEM = "navigator-system"
EXAMPLE = "cassandra"  # the watched namespace the directory ships
ACCOUNT = "navigator-operator"
NAME = "narrow"
WATCH_ENV = "NAVIGATOR_WATCH_NAMESPACES"
STATUS = "--subresource=status"


@dataclass
class Install:
    system: str  # the operator's own namespace: ServiceAccount, Lease
    watched: str  # the one namespace it watches
    other: str  # a namespace it does not
    objects: list[dict[str, Any]]
    watch: tuple[str, ...]  # the Deployment's watched namespaces, moved

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.system}:{ACCOUNT}"


def rendered(local_cluster: Any) -> list[dict[str, Any]]:
    out = local_cluster.kubectl("kustomize", str(DIR)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def moved(
    objects: list[dict[str, Any]], names: dict[str, str], suffix: str
) -> list[dict[str, Any]]:
    """The install with its namespaces renamed by `names` (in metadata and in
    subjects) and its cluster-scoped RBAC objects suffixed; no Namespace and
    no Deployment (the operator runs as a process here)."""
    out = []
    for doc in json.loads(json.dumps(objects)):
        if doc["kind"] in ("Namespace", "Deployment"):
            continue
        meta = doc["metadata"]
        if "namespace" in meta:
            meta["namespace"] = names[meta["namespace"]]
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            meta["name"] = f"{meta['name']}-{suffix}"
        if doc.get("roleRef", {}).get("kind") == "ClusterRole":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{suffix}"
        for subject in doc.get("subjects", []):
            subject["namespace"] = names[subject["namespace"]]
        out.append(doc)
    return out


def deployment_watches(objects: list[dict[str, Any]]) -> tuple[str, ...]:
    [deployment] = [d for d in objects if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return watched_namespaces(
        tuple(e["value"] for e in container.get("env", []) if e["name"] == WATCH_ENV)
    )


@pytest.fixture
def install(local_cluster: Any, namespace: str, navigator_crds: None) -> Iterator[Install]:
    """deploy/operator-namespaced's RBAC, watching `namespace`; two more
    namespaces: the operator's own and one it does not watch."""
    suffix = secrets.token_hex(3)
    system, other = f"{namespace}-op", f"{namespace}-other"
    objects = rendered(local_cluster)
    # kustomize's patch replaced the base ClusterRole's rules as a whole.
    [cluster_role] = [
        d for d in objects if d["kind"] == "ClusterRole" and d["metadata"]["name"] == ACCOUNT
    ]
    resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert resources == {
        "customresourcedefinitions",
        "storageclasses",
        "persistentvolumes",
        "nodes",
        "namespaces",
    }
    names = {SYSTEM: system, EXAMPLE: namespace}
    assert deployment_watches(objects) == (EXAMPLE,)
    inst = Install(
        system=system,
        watched=namespace,
        other=other,
        objects=moved(objects, names, suffix),
        watch=tuple(names[n] for n in deployment_watches(objects)),
    )
    try:
        for ns in (system, other):
            local_cluster.kubectl("create", "namespace", ns)
        local_cluster.kubectl(
            "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(inst.objects)
        )
        yield inst
    finally:
        for doc in inst.objects:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                local_cluster.kubectl(
                    "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found"
                )
        for ns in (system, other):
            local_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def operator_log(local_cluster: Any, install: Install, tmp_path: Path) -> Iterator[Path]:
    """The operator as the install's ServiceAccount, watching its namespace,
    its Lease in its own namespace."""
    token = local_cluster.kubectl(
        "create", "token", ACCOUNT, "-n", install.system, "--duration=1h"
    ).stdout.strip()
    kubeconfig = tmp_path / "operator.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(token_kubeconfig(local_cluster.kubeconfig, token)))
    op = OperatorProcess(
        kubeconfig,
        tmp_path / "operator.log",
        install.system,
        identity="rbac-namespaced",
        resync=2,
        namespaces=install.watch,
    ).start()
    try:
        yield op.log
    finally:
        op.stop()


def test_can_i(local_cluster: Any, install: Install) -> None:
    """What the operator's ServiceAccount may do, and where."""
    managed, system, other = install.watched, install.system, install.other
    table: list[tuple[str, str, str, bool]] = [
        # (verb, resource, namespace or "-A" or "" for cluster-scoped, allowed)
        ("delete", "persistentvolumeclaims", managed, True),
        ("patch", "persistentvolumeclaims", managed, True),
        ("delete", "persistentvolumeclaims", other, False),
        ("delete", "persistentvolumeclaims", system, False),
        ("delete", "persistentvolumeclaims", "-A", False),
        ("create", "persistentvolumeclaims", managed, False),
        ("list", "statefulsets.apps", managed, True),
        ("delete", "statefulsets.apps", managed, True),
        ("list", "statefulsets.apps", "-A", False),
        ("list", "statefulsets.apps", other, False),
        ("watch", "cassandraclusters.navigator.dev", managed, True),
        ("watch", "cassandraclusters.navigator.dev", "-A", False),
        ("watch", "cassandraclusters.navigator.dev", other, False),
        ("patch", f"cassandraclusters.navigator.dev {STATUS}", managed, True),
        ("patch", f"cassandraclusters.navigator.dev {STATUS}", other, False),
        ("patch", f"pilots.navigator.dev {STATUS}", managed, True),  # for the pilots' Role
        ("delete", "pilots.navigator.dev", managed, True),
        ("delete", "pilots.navigator.dev", other, False),
        ("delete", "pods", managed, True),
        ("delete", "pods", other, False),
        ("create", "roles.rbac.authorization.k8s.io", managed, True),
        ("create", "roles.rbac.authorization.k8s.io", other, False),
        ("create", "events", managed, True),
        ("create", "events", other, False),
        ("list", "secrets", managed, False),
        ("get", "secrets", "-A", False),
        ("patch", "secrets", managed, True),
        ("patch", "secrets", other, False),
        # The Lease: its own namespace only; replaced (update), never patched.
        ("create", "leases.coordination.k8s.io", system, True),
        ("update", f"leases.coordination.k8s.io/{ACCOUNT}", system, True),
        ("get", f"leases.coordination.k8s.io/{ACCOUNT}", system, True),
        ("patch", f"leases.coordination.k8s.io/{ACCOUNT}", system, False),
        ("update", f"leases.coordination.k8s.io/{ACCOUNT}", managed, False),
        ("update", f"leases.coordination.k8s.io/{ACCOUNT}", other, False),
        ("create", "leases.coordination.k8s.io", other, False),
        # Cluster-scoped: reads of what a pass needs, nothing else.
        ("get", "persistentvolumes", "", True),
        ("list", "persistentvolumes", "", False),
        ("delete", "persistentvolumes", "", False),
        ("get", "nodes", "", True),
        ("list", "nodes", "", False),
        ("get", "storageclasses.storage.k8s.io", "", True),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", "", True),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io", "", True),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io", "", False),
        ("list", "namespaces", "", True),  # kopf, watching named namespaces
        ("watch", "namespaces", "", True),
        ("delete", "namespaces", "", False),
    ]
    wrong = []
    for verb, resource, where, allowed in table:
        scope = ["-A"] if where == "-A" else ["-n", where] if where else []
        got = local_cluster.kubectl(
            "auth", "can-i", verb, *resource.split(), *scope, f"--as={install.user}", check=False
        ).stdout.strip()
        if got != ("yes" if allowed else "no"):
            wrong.append(f"can-i {verb} {resource} {' '.join(scope)}: {got}")
    assert not wrong, wrong


async def grow_to(client: AsyncClient, namespace: str, size: int, log: Path) -> None:
    async def grown() -> bool:
        await report(client, namespace, await members(client, namespace, NAME))
        sts = await client.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)
        return sts.spec is not None and sts.spec.replicas == size

    await until(grown, log)


async def resize(client: AsyncClient, namespace: str, replicas: int) -> None:
    await client.patch(
        CassandraClusterResource,
        NAME,
        {"spec": {"nodePools": [{"name": "rack1", "replicas": replicas}]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


async def test_operator_runs_a_cluster_with_namespaced_rights(
    aclient: AsyncClient, install: Install, operator_log: Path
) -> None:
    log, ns = operator_log, install.watched
    ignored: Any = CassandraClusterResource(cluster_manifest(NAME, install.other, replicas=1))
    await aclient.create(ignored)
    obj: Any = CassandraClusterResource(cluster_manifest(NAME, ns, replicas=2))
    await aclient.create(obj)
    await grow_to(aclient, ns, 2, log)
    for res, name in [
        (ServiceAccount, f"{NAME}-pilot"),
        (Role, f"{NAME}-pilot"),  # held in this namespace only: the escalation check passed
        (RoleBinding, f"{NAME}-pilot"),
        (Service, f"{NAME}-nodes"),
        (PodDisruptionBudget, NAME),
        (PilotResource, f"{NAME}-rack1-0"),
        (PilotResource, f"{NAME}-rack1-1"),
    ]:
        got = await aclient.get(res, name, namespace=ns)
        assert got.metadata is not None
        assert got.metadata.managedFields is not None
        assert "navigator-operator" in {f.manager for f in got.metadata.managedFields}
    lease = await aclient.get(Lease, ACCOUNT, namespace=install.system)
    assert lease.spec is not None
    assert lease.spec.holderIdentity == "rbac-namespaced"

    # Scale-in: decommission intent, removal of the member and its Pilot,
    # the kept claim labelled; scale-out again: that claim deleted.
    await resize(aclient, ns, 1)
    leaving = f"{NAME}-rack1-1"
    names = [f"{NAME}-rack1-0", leaving]

    async def intent() -> str:
        # The pilots keep reporting meanwhile, as real ones do.
        await report(aclient, ns, names)
        pilot: Any = await aclient.get(PilotResource, leaving, namespace=ns)
        return str(pilot.spec["intents"][0]["id"])

    await until(intent, log)
    done = {leaving: [{"id": await intent(), "action": "Decommission", "phase": "Succeeded"}]}

    async def removed() -> bool:
        sts = await aclient.get(StatefulSet, f"{NAME}-rack1", namespace=ns)
        if sts.spec is not None and sts.spec.replicas == 1:
            return True
        await report(aclient, ns, names, outcomes=done, gone=frozenset({leaving}))
        return False

    await until(removed, log)
    await resize(aclient, ns, 2)
    await grow_to(aclient, ns, 2, log)
    await asyncio.sleep(3)  # one more resync: its requests must pass too
    assert not forbidden(log), forbidden(log)[:5]
    reasons = {e.reason async for e in aclient.list(Event, namespace=ns)}
    assert {"CreatingPool", "ScalingOut", "DecommissionRequested", "RemovingMember"} <= reasons
    assert "DeletedDecommissionedVolume" in reasons  # the claim was deleted, in this namespace

    # The cluster outside the watched namespace got nothing: no children, no
    # status, no events from the operator.
    with pytest.raises(ApiError) as gone:
        await aclient.get(StatefulSet, f"{NAME}-rack1", namespace=install.other)
    assert gone.value.status.code == 404
    untouched: Any = await aclient.get(CassandraClusterResource, NAME, namespace=install.other)
    assert not untouched.status
    assert [e async for e in aclient.list(Event, namespace=install.other)] == []
