"""A pilot speaks only for its own member (issue 15).

The pilots' ServiceAccount, Role and RoleBinding are made by the operator's
builders, for a real CassandraCluster; each member has a Pod (gated, so it is
never scheduled: a token can be bound to it all the same) and a Pilot. The
tokens are the ones the local node agent mounts into a pod (its own
TokenRequest code, bound to the Pod), and the writes go through the pilot's
own client (`KubeStore.write_status`). The ValidatingAdmissionPolicy in
deploy/crds (installed with the CRDs) must let a pilot write its own Pilot's
status and refuse every other Pilot, and refuse a pilot token bound to no pod;
the admin and other accounts are not affected.

`kubectl auth can-i` (RBAC only, not admission) shows what the pilot's
identity may do at all.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from navigator.api import admission
from navigator.api.cassandra import CassandraCluster
from navigator.local.agent.kube import Kube, tls_context
from navigator.local.agent.volumes import VolumeBuilder
from navigator.operator.cassandra.builders import (
    build_pilot,
    build_role,
    build_role_binding,
    build_service_account,
)
from navigator.operator.cassandra.builders.meta import member_name, pilot_account_name
from navigator.pilot.kube import KubeStore
from navigator.pilot.kubeclient import Endpoint, KubeClient, KubeError
from navigator.pilot.rbac import PILOT_RULES
from navigator.testing.pytest_plugin import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CLUSTER = "guarded"


@dataclass(frozen=True)
class Members:
    namespace: str
    account: str  # the pilots' ServiceAccount
    a: str  # two members: Pod and Pilot names
    b: str
    pod_uids: dict[str, str]


def _apply(local: LocalCluster, namespace: str, objs: list[dict[str, Any]]) -> None:
    local.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objs)
    )


def _get(local: LocalCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    out = local.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def _pod(name: str, account: str) -> dict[str, Any]:
    """A member's Pod as far as a token needs it: its ServiceAccount. The
    scheduling gate keeps it off every node (a Pod bound to a node that does
    not exist would be garbage-collected, and its tokens with it)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": account,
            "schedulingGates": [{"name": "navigator.dev/never"}],
            "containers": [{"name": "cassandra", "image": "navigator-cassandra:none"}],
        },
    }


@pytest.fixture
def members(local_cluster: LocalCluster, namespace: str, navigator_crds: None) -> Members:
    _apply(
        local_cluster,
        namespace,
        [
            {
                "apiVersion": "navigator.dev/v1alpha1",
                "kind": "CassandraCluster",
                "metadata": {"name": CLUSTER},
                "spec": {"version": "5.0.6", "nodePools": [{"name": "rack1", "replicas": 2}]},
            }
        ],
    )
    # As the operator builds them (the owner reference needs the stored uid).
    cluster = CassandraCluster.model_validate(
        _get(local_cluster, namespace, "cassandracluster", CLUSTER)
    )
    pool = cluster.spec.node_pools[0]
    a, b = member_name(cluster, pool, 0), member_name(cluster, pool, 1)
    account = pilot_account_name(cluster)
    _apply(
        local_cluster,
        namespace,
        [build_service_account(cluster), build_role(cluster), build_role_binding(cluster)],
    )
    _apply(local_cluster, namespace, [build_pilot(cluster, pool, m) for m in (a, b)])
    _apply(local_cluster, namespace, [_pod(m, account) for m in (a, b)])
    uids = {m: _get(local_cluster, namespace, "pod", m)["metadata"]["uid"] for m in (a, b)}
    return Members(namespace, account, a, b, uids)


async def agent_token(local: LocalCluster, namespace: str, pod: str) -> str:
    """The token the node agent would mount into `pod` (the projected
    service-account token of `kube-api-access-*`), by the agent's own code.
    A node may request one only for its own pods (NodeRestriction), so the
    request is made with the admin's certificate here."""
    pki = local.config.layout.pki
    kube = Kube(
        local.config.server_url,
        tls_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key"),
        user_agent="navigator-tests",
    )
    try:
        obj = await kube.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
        builder = VolumeBuilder(kube, obj, Path("/nonexistent"), "0.0.0.0")
        return await builder.token({"path": "token", "expirationSeconds": 3607})
    finally:
        await kube.close()


def bound_to_no_pod(local: LocalCluster, members: Members) -> str:
    """A token of the pilots' ServiceAccount that is not bound to a pod."""
    return local.kubectl(
        "create", "token", members.account, "-n", members.namespace, "--duration=10m"
    ).stdout.strip()


def pilot_client(local: LocalCluster, token: str) -> KubeClient:
    """The pilot's own REST client, with `token` as its service-account token."""
    url = urlsplit(local.config.server_url)
    ctx = ssl.create_default_context(cafile=str(local.config.layout.pki / "ca.crt"))
    return KubeClient(
        Endpoint(host=url.hostname or "", port=url.port or 443, context=ctx, token=token)
    )


def store(local: LocalCluster, token: str, members: Members, pilot: str) -> KubeStore:
    return KubeStore(pilot_client(local, token), namespace=members.namespace, name=pilot)


def status(members: Members, writer: str) -> dict[str, Any]:
    return {"podUID": members.pod_uids[writer], "ready": True, "readyReason": f"by {writer}"}


async def policy_in_force(local: LocalCluster, token: str, members: Members) -> None:
    """Wait until the policy refuses a's token on b (a dry run: nothing is
    written). A policy just installed with the CRDs takes a moment to be in
    force in the API server."""
    path = f"/apis/navigator.dev/v1alpha1/namespaces/{members.namespace}/pilots/{members.b}/status"
    deadline = time.monotonic() + 30
    while True:
        try:
            await pilot_client(local, token).patch(f"{path}?dryRun=All", {"status": {}})
        except KubeError as err:
            if admission.RULE in str(err):
                return
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("the policy never refused a's token on b")
        await asyncio.sleep(0.5)


def ready_reason(local: LocalCluster, members: Members, pilot: str) -> str:
    obj = _get(local, members.namespace, "pilot", pilot)
    return str((obj.get("status") or {}).get("readyReason", ""))


async def test_agent_tokens_name_their_pod(local_cluster: LocalCluster, members: Members) -> None:
    """The local cluster issues pod-bound tokens, as a kubelet does: the API
    server authenticates them with the pod's name in the user's extra."""
    token = await agent_token(local_cluster, members.namespace, members.a)
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    got = json.loads(
        local_cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review)).stdout
    )
    user = got["status"]["user"]
    assert got["status"]["authenticated"] is True
    assert user["username"] == f"system:serviceaccount:{members.namespace}:{members.account}"
    assert user["extra"][admission.POD_NAME_EXTRA] == [members.a]
    assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [members.pod_uids[members.a]]


async def test_a_pilot_writes_only_its_own_status(
    local_cluster: LocalCluster, members: Members
) -> None:
    a, b = members.a, members.b
    token_a = await agent_token(local_cluster, members.namespace, a)

    await policy_in_force(local_cluster, token_a, members)

    # Pilot a's token, writing b's status (a forged "decommissioned", say): refused.
    with pytest.raises(KubeError) as info:
        await store(local_cluster, token_a, members, b).write_status(status(members, a))
    err = info.value
    assert err.status == 403, err
    assert admission.RULE in str(err), err
    assert f"the pilot of pod {members.namespace}/{a} may write only its own Pilot" in str(err)
    assert f"not {members.namespace}/{b}" in str(err)
    # A merge patch is the same request to admission.
    with pytest.raises(KubeError, match=admission.RULE):
        await pilot_client(local_cluster, token_a).patch(
            f"/apis/navigator.dev/v1alpha1/namespaces/{members.namespace}/pilots/{b}/status",
            {"status": {"ready": False}},
        )
    assert ready_reason(local_cluster, members, b) == ""

    # Its own: allowed. Reading another Pilot is not a write: allowed too.
    await store(local_cluster, token_a, members, a).write_status(status(members, a))
    assert ready_reason(local_cluster, members, a) == f"by {a}"
    assert (await store(local_cluster, token_a, members, b).read()).status == {}

    # b's pilot, with its own token, writes b.
    token_b = await agent_token(local_cluster, members.namespace, b)
    await store(local_cluster, token_b, members, b).write_status(status(members, b))
    assert ready_reason(local_cluster, members, b) == f"by {b}"

    # A token of the pilots' account bound to no pod: refused, even for a.
    unbound = bound_to_no_pod(local_cluster, members)
    for pilot in (a, b):
        with pytest.raises(KubeError, match="presented a token that is not bound to a pod") as info:
            await store(local_cluster, unbound, members, pilot).write_status(status(members, a))
        assert info.value.status == 403

    # The admin (and the operator) are not pilots: both are written.
    for pilot in (a, b):
        local_cluster.kubectl(
            "patch", "pilot", pilot, "-n", members.namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": {"readyReason": "by the admin"}}),
        )  # fmt: skip
        assert ready_reason(local_cluster, members, pilot) == "by the admin"


async def test_other_accounts_are_not_matched(
    local_cluster: LocalCluster, members: Members
) -> None:
    """The policy selects the pilots' accounts (`<cluster>-pilot`) only: another
    ServiceAccount granted the same rights writes any Pilot's status, with a
    token bound to no pod."""
    ns = members.namespace
    local_cluster.kubectl("create", "serviceaccount", "status-writer", "-n", ns)
    local_cluster.kubectl(
        "create", "rolebinding", "status-writer", "-n", ns,
        f"--role={members.account}", f"--serviceaccount={ns}:status-writer",
    )  # fmt: skip
    token = local_cluster.kubectl(
        "create", "token", "status-writer", "-n", ns, "--duration=10m"
    ).stdout.strip()
    deadline = time.monotonic() + 30
    while True:  # RBAC caches take a moment to see the new binding
        try:
            await store(local_cluster, token, members, members.b).write_status(
                {"readyReason": "by status-writer"}
            )
            break
        except KubeError as err:
            if admission.RULE in str(err) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    assert ready_reason(local_cluster, members, members.b) == "by status-writer"


# What the pilot's identity may do: RBAC (`kubectl auth can-i`), not admission.
CAN_I: list[tuple[str, str, str, bool]] = [
    # verb, resource, subresource, allowed
    ("patch", "pilots.navigator.dev", "status", True),
    ("update", "pilots.navigator.dev", "status", True),
    ("get", "pilots.navigator.dev", "", True),
    ("get", "cassandraclusters.navigator.dev", "", True),
    # The spec is the operator's: intents come from there.
    ("patch", "pilots.navigator.dev", "", False),
    ("create", "pilots.navigator.dev", "", False),
    ("delete", "pilots.navigator.dev", "", False),
    ("patch", "cassandraclusters.navigator.dev", "", False),
    ("patch", "cassandraclusters.navigator.dev", "status", False),
    ("list", "pods", "", False),
    ("delete", "pods", "", False),
    ("create", "pods", "exec", False),
    ("delete", "persistentvolumeclaims", "", False),
    ("get", "persistentvolumeclaims", "", False),
    ("get", "secrets", "", False),
    ("list", "secrets", "", False),
    ("get", "configmaps", "", False),
    ("patch", "statefulsets.apps", "", False),
    ("delete", "statefulsets.apps", "", False),
    ("create", "serviceaccounts", "token", False),
    ("patch", "roles.rbac.authorization.k8s.io", "", False),
    ("create", "rolebindings.rbac.authorization.k8s.io", "", False),
]


def can_i(
    local: LocalCluster, who: str, namespace: str, verb: str, resource: str, sub: str
) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={who}", "-n", namespace]
    if sub:
        args.append(f"--subresource={sub}")
    answer = local.kubectl(*args, check=False).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def test_pilot_can_i(local_cluster: LocalCluster, members: Members) -> None:
    ns = members.namespace
    who = f"system:serviceaccount:{ns}:{members.account}"
    got = [
        (verb, resource, sub, can_i(local_cluster, who, ns, verb, resource, sub))
        for verb, resource, sub, _ in CAN_I
    ]
    assert got == CAN_I
    # Nothing at all in another namespace.
    assert not can_i(local_cluster, who, "default", "get", "pilots.navigator.dev", "")
    assert not can_i(local_cluster, who, "default", "patch", "pilots.navigator.dev", "status")

    # `--list`: the namespaced resources granted are PILOT_RULES', nothing more.
    listing = local_cluster.kubectl("auth", "can-i", "--list", f"--as={who}", "-n", ns).stdout
    granted: dict[str, set[str]] = {}
    for line in listing.splitlines()[1:]:
        if line and not line[0].isspace():
            resource, verbs = line.split()[0], line[line.rindex("[") + 1 : -1].split()
            granted.setdefault(resource, set()).update(verbs)
    expected: dict[str, set[str]] = {
        f"{kind}.authorization.k8s.io": {"create"}
        for kind in ("selfsubjectaccessreviews", "selfsubjectrulesreviews")
    }
    expected["selfsubjectreviews.authentication.k8s.io"] = {"create"}
    for rule in PILOT_RULES:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                name, _, sub = resource.partition("/")
                key = f"{name}.{group}" if group else name
                key += f"/{sub}" if sub else ""
                expected.setdefault(key, set()).update(rule["verbs"])
    assert granted == expected
