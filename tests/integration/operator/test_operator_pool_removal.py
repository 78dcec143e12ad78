"""Removing a pool from the spec, against the real API server with pilots
simulated by writing Pilot status (issue 13): its member is decommissioned,
its StatefulSet shrinks without its template changing, then goes; a removal
that would break replication is refused with its rule."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType
from opkube import cluster_manifest, pods_decided, report

from navigator.operator.cassandra.reconcile import Reconciler
from navigator.operator.core.kube import CassandraClusterResource, PilotResource
from navigator.operator.core.revision import REVISION_ANNOTATION

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NAME = "demo"
RACKS = [{"name": "rack1", "replicas": 1}, {"name": "rack2", "replicas": 1}]


async def sets(client: AsyncClient, namespace: str) -> dict[str, Any]:
    return {
        s.metadata.name: s.to_dict()
        async for s in client.list(StatefulSet, namespace=namespace)
        if s.metadata is not None
    }


async def members(client: AsyncClient, namespace: str) -> list[str]:
    return [
        f"{name}-{i}"
        for name, sts in sorted((await sets(client, namespace)).items())
        for i in range(int(sts["spec"].get("replicas") or 0))
    ]


async def status(client: AsyncClient, namespace: str) -> dict[str, Any]:
    obj = await client.get(CassandraClusterResource, NAME, namespace=namespace)
    return dict(obj.to_dict().get("status") or {})


async def two_racks(client: AsyncClient, reconciler: Reconciler, namespace: str, rf: int) -> None:
    """A cluster of rack1 and rack2, one member each, grown by the operator."""
    obj: Any = CassandraClusterResource(cluster_manifest(NAME, namespace, nodePools=RACKS))
    await client.create(obj)
    for _ in range(60):  # the StatefulSet controller creates each pod in its own time
        await reconciler.reconcile(namespace, NAME)
        await report(client, namespace, await members(client, namespace), rf=rf)
        if len(await members(client, namespace)) == 2:
            break
        await asyncio.sleep(0.5)
    await pods_decided(client, namespace, 2)
    await report(client, namespace, await members(client, namespace), rf=rf)
    await reconciler.reconcile(namespace, NAME)
    assert await members(client, namespace) == [f"{NAME}-rack1-0", f"{NAME}-rack2-0"], await status(
        client, namespace
    )
    await client.patch(
        CassandraClusterResource,
        NAME,
        {"spec": {"nodePools": RACKS[:1]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


def revision(sts: dict[str, Any]) -> str:
    return str(sts["spec"]["template"]["metadata"]["annotations"][REVISION_ANNOTATION])


async def test_removing_a_pool_decommissions_its_member_then_deletes_its_statefulset(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await two_racks(aclient, reconciler, namespace, rf=1)
    names = await members(aclient, namespace)
    leaving = f"{NAME}-rack2-0"
    before = (await sets(aclient, namespace))[f"{NAME}-rack2"]

    await reconciler.reconcile(namespace, NAME)
    pilot: Any = await aclient.get(PilotResource, leaving, namespace=namespace)
    (intent,) = pilot.spec["intents"]
    assert intent["action"] == "Decommission"
    op = (await status(aclient, namespace))["operation"]
    assert (op["type"], op["target"]) == ("RemovePool", "rack2")
    rack2 = next(p for p in (await status(aclient, namespace))["nodePools"] if p["name"] == "rack2")
    assert rack2["replicas"] == 1

    done = {leaving: [{"id": intent["id"], "action": "Decommission", "phase": "Succeeded"}]}
    await report(aclient, namespace, names, outcomes=done)  # peers still list it
    await reconciler.reconcile(namespace, NAME)
    assert await members(aclient, namespace) == names
    assert (await status(aclient, namespace))["operation"]["blockedBy"]["rule"] == (
        "PeersForgotMember"
    )

    await report(aclient, namespace, names, outcomes=done, gone=frozenset({leaving}))
    await reconciler.reconcile(namespace, NAME)
    shrunk = (await sets(aclient, namespace))[f"{NAME}-rack2"]
    assert shrunk["spec"]["replicas"] == 0
    # Only the size changed: the template is the one its members ran.
    assert shrunk["spec"]["template"] == before["spec"]["template"]
    assert revision(shrunk) == revision(before)
    assert [p.metadata.name async for p in aclient.list(PilotResource, namespace=namespace)] == [
        f"{NAME}-rack1-0"
    ]

    await reconciler.reconcile(namespace, NAME)
    assert set(await sets(aclient, namespace)) == {f"{NAME}-rack1"}
    events = [e async for e in aclient.list(Event, namespace=namespace)]
    removed = [e for e in events if e.reason == "RemovedPool"]
    assert len(removed) == 1
    assert "rack2" in (removed[0].message or "")
    await report(aclient, namespace, [f"{NAME}-rack1-0"])
    await reconciler.reconcile(namespace, NAME)
    st = await status(aclient, namespace)
    assert "operation" not in st
    assert [p["name"] for p in st["nodePools"]] == ["rack1"]
    events = [e async for e in aclient.list(Event, namespace=namespace)]
    assert any(
        e.reason == "OperationFinished" and "RemovePool rack2" in (e.message or "") for e in events
    )


async def test_removing_a_pool_that_would_break_replication_is_refused(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await two_racks(aclient, reconciler, namespace, rf=2)
    for _ in range(2):
        await reconciler.reconcile(namespace, NAME)
    blocked = (await status(aclient, namespace))["operation"]["blockedBy"]
    assert blocked["rule"] == "PoolRemovalKeepsReplication"
    assert "ks (RF 2)" in blocked["reason"]
    pilot: Any = await aclient.get(PilotResource, f"{NAME}-rack2-0", namespace=namespace)
    assert not pilot.spec.get("intents")
    assert int((await sets(aclient, namespace))[f"{NAME}-rack2"]["spec"]["replicas"]) == 1
    events = [e async for e in aclient.list(Event, namespace=namespace)]
    assert any(
        e.reason == "Blocked" and e.type == "Warning" and "PoolRemovalKeepsReplication" in e.message
        for e in events
        if e.message
    )
