"""The reconciler against the real API server, with pilots simulated by
writing Pilot status as a pilot would (no pod needs to run)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Event, Service, ServiceAccount
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from opkube import cluster_manifest, pods_decided, pods_exist, report

from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra.builders import build_pilot
from navigator.operator.cassandra.reconcile import Reconciler
from navigator.operator.core.kube import CassandraClusterResource, PilotResource
from navigator.operator.core.workers import GONE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NAME = "demo"


async def create(client: AsyncClient, namespace: str, **kw: Any) -> dict[str, Any]:
    obj: Any = CassandraClusterResource(cluster_manifest(NAME, namespace, **kw))
    created = await client.create(obj)
    return dict(created.to_dict())


async def patch_spec(client: AsyncClient, namespace: str, spec: dict[str, Any]) -> None:
    await client.patch(
        CassandraClusterResource,
        NAME,
        {"spec": spec},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


async def replicas(client: AsyncClient, namespace: str) -> int:
    sts = await client.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)
    assert sts.spec is not None
    return int(sts.spec.replicas or 0)


async def status(client: AsyncClient, namespace: str) -> dict[str, Any]:
    obj = await client.get(CassandraClusterResource, NAME, namespace=namespace)
    return dict(obj.to_dict().get("status") or {})


async def members(client: AsyncClient, namespace: str) -> list[str]:
    return [f"{NAME}-rack1-{i}" for i in range(await replicas(client, namespace))]


async def grow(
    client: AsyncClient, reconciler: Reconciler, namespace: str, target: int
) -> list[int]:
    """Reconcile with healthy simulated pilots until the pool has `target`
    members; returns the replicas seen after each pass."""
    seen = []
    for _ in range(3 * target + 4):
        await reconciler.reconcile(namespace, NAME)
        seen.append(await replicas(client, namespace))
        await pods_exist(client, namespace, await members(client, namespace))
        await report(client, namespace, await members(client, namespace))
        if seen[-1] == target:
            break
    return seen


async def test_create_builds_every_child_with_owner_refs_and_status(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    owner = await create(aclient, namespace)
    await reconciler.reconcile(namespace, NAME)
    uid = owner["metadata"]["uid"]
    for res, name in [
        (StatefulSet, f"{NAME}-rack1"),
        (Service, f"{NAME}-nodes"),
        (PodDisruptionBudget, NAME),
        (ServiceAccount, f"{NAME}-pilot"),
        (Role, f"{NAME}-pilot"),
        (RoleBinding, f"{NAME}-pilot"),
    ]:
        obj: Any = await aclient.get(res, name, namespace=namespace)
        refs = obj.metadata.ownerReferences
        assert refs[0].uid == uid, (res, name)
        assert refs[0].controller is True
    st = await status(aclient, namespace)
    assert st["observedGeneration"] == 1
    assert st["readyMembers"] == "0/3"
    assert {c["type"] for c in st["conditions"]} == {
        "Available",
        "Progressing",
        "Degraded",
        "Paused",
    }
    assert st["operation"]["type"] == "Create"

    seen = await grow(aclient, reconciler, namespace, 3)
    assert seen[-1] == 3
    assert all(b - a <= 1 for a, b in itertools.pairwise(seen)), seen
    pilot: Any = await aclient.get(PilotResource, f"{NAME}-rack1-2", namespace=namespace)
    assert pilot.spec["cluster"] == NAME
    assert pilot.metadata.ownerReferences[0].uid == uid
    events = [e async for e in aclient.list(Event, namespace=namespace)]
    assert {"CreatingPool", "ScalingOut"} <= {e.reason for e in events}


async def test_nothing_changed_means_no_write(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=2)
    await grow(aclient, reconciler, namespace, 2)
    # The real StatefulSet controller and scheduler keep changing the world
    # (pods created, then found unschedulable) after the last action; the
    # status follows them, so only count writes once they are done.
    await pods_decided(aclient, namespace, 2)
    await reconciler.reconcile(namespace, NAME)  # settles the status
    before = reconciler.kube.total_writes
    for _ in range(3):
        assert await reconciler.reconcile(namespace, NAME) is None
    assert reconciler.kube.total_writes == before, reconciler.kube.writes
    st = await status(aclient, namespace)
    assert st["phase"] in ("Ready", "Degraded")  # no pods run here: members not ready
    assert "operation" not in st


async def test_paused_changes_nothing(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, paused=True)
    await reconciler.reconcile(namespace, NAME)
    assert [s async for s in aclient.list(StatefulSet, namespace=namespace)] == []
    assert set(reconciler.kube.writes) == {"status CassandraCluster"}
    st = await status(aclient, namespace)
    assert st["phase"] == "Paused"
    await patch_spec(aclient, namespace, {"paused": False})
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 0


async def test_scale_in_decommissions_then_removes(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace)
    await grow(aclient, reconciler, namespace, 3)
    names = await members(aclient, namespace)
    await patch_spec(aclient, namespace, {"nodePools": [{"name": "rack1", "replicas": 2}]})
    await reconciler.reconcile(namespace, NAME)
    leaving = f"{NAME}-rack1-2"
    pilot: Any = await aclient.get(PilotResource, leaving, namespace=namespace)
    (intent,) = pilot.spec["intents"]
    assert intent["action"] == "Decommission"
    assert await replicas(aclient, namespace) == 3

    running = {leaving: [{"id": intent["id"], "action": "Decommission", "phase": "Running"}]}
    await report(aclient, namespace, names, outcomes=running)
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 3
    assert (await status(aclient, namespace))["operation"]["blockedBy"]["rule"] == (
        "DecommissionCompletes"
    )

    done = {leaving: [{"id": intent["id"], "action": "Decommission", "phase": "Succeeded"}]}
    await report(aclient, namespace, names, outcomes=done)  # peers still list it
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 3
    await report(aclient, namespace, names, outcomes=done, gone=frozenset({leaving}))
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 2
    assert [p.metadata.name async for p in aclient.list(PilotResource, namespace=namespace)] == (
        names[:2]
    )


async def test_scale_in_below_replication_factor_is_refused(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace)
    await grow(aclient, reconciler, namespace, 3)
    await report(aclient, namespace, await members(aclient, namespace), rf=3)
    await patch_spec(aclient, namespace, {"nodePools": [{"name": "rack1", "replicas": 2}]})
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 3
    pilot: Any = await aclient.get(PilotResource, f"{NAME}-rack1-2", namespace=namespace)
    assert not pilot.spec.get("intents")
    blocked = (await status(aclient, namespace))["operation"]["blockedBy"]
    assert blocked["rule"] == "DecommissionKeepsReplicationFactor", blocked["reason"]
    assert "ks (RF 3)" in blocked["reason"]
    events = [e async for e in aclient.list(Event, namespace=namespace)]
    assert any(e.reason == "Blocked" and e.type == "Warning" for e in events)


async def test_deleting_the_cluster_collects_its_children(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=1)
    await grow(aclient, reconciler, namespace, 1)
    await aclient.delete(CassandraClusterResource, NAME, namespace=namespace)
    for _ in range(120):
        left = [s async for s in aclient.list(StatefulSet, namespace=namespace)]
        left += [p async for p in aclient.list(PilotResource, namespace=namespace)]
        left += [s async for s in aclient.list(Service, namespace=namespace)]
        if not left:
            break
        await asyncio.sleep(0.5)
    assert left == []
    assert await reconciler.reconcile(namespace, NAME) == GONE


async def test_an_unschedulable_member_is_failing_with_the_schedulers_reason(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    """The real scheduler finds no node for the first member's Pod (its pool
    selects a node label nothing has): the cluster is Degraded, reason
    MembersFailing, and the message names the member and quotes the scheduler."""
    await create(
        aclient,
        namespace,
        replicas=1,
        nodePools=[
            {"name": "rack1", "replicas": 1, "nodeSelector": {"navigator.dev/test": "nowhere"}}
        ],
    )
    degraded: dict[str, Any] = {}
    for _ in range(60):
        await reconciler.reconcile(namespace, NAME)
        conditions = {c["type"]: c for c in (await status(aclient, namespace))["conditions"]}
        degraded = conditions["Degraded"]
        if degraded["reason"] == "MembersFailing":
            break
        await asyncio.sleep(0.5)
    assert degraded["status"] == "True", degraded
    assert degraded["reason"] == "MembersFailing", degraded
    assert degraded["message"].startswith(f"{NAME}-rack1-0: unschedulable: "), degraded
    assert "available" in degraded["message"], degraded  # "0/3 nodes are available: …"
    assert (await status(aclient, namespace))["phase"] == "Degraded"


async def test_a_pilot_left_by_a_conflicted_scale_out_is_written_again(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    """A scale-out writes the new member's Pilot, then the StatefulSet; when
    that second write conflicts, the next pass deletes the Pilot (its member
    does not exist) and writes it again in the same pass: it must not skip
    that write as unchanged on the strength of what it read before."""
    await create(aclient, namespace, replicas=1)
    await grow(aclient, reconciler, namespace, 1)
    raw = await aclient.get(CassandraClusterResource, NAME, namespace=namespace)
    cluster = CassandraCluster.model_validate({**raw.to_dict(), "status": None})
    stray = build_pilot(cluster, cluster.spec.node_pools[0], f"{NAME}-rack1-1")
    await reconciler.kube.apply(stray, None)
    await patch_spec(aclient, namespace, {"nodePools": [{"name": "rack1", "replicas": 2}]})
    # A pass whose StatefulSet write the controller's status update has just
    # superseded is refused (409) by design; the pass that does grow the pool
    # must be the one that wrote the Pilot again, so check right after it.
    for _ in range(3):
        await reconciler.reconcile(namespace, NAME)
        if await replicas(aclient, namespace) == 2:
            break
    assert await replicas(aclient, namespace) == 2
    await aclient.get(PilotResource, f"{NAME}-rack1-1", namespace=namespace)  # exists
