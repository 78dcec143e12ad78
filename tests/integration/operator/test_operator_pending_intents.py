"""A Pilot with a pending intent cannot vanish (real API server, simulated
pilots): the pending-intents finalizer holds it until the intent finishes,
and comes off when the cluster itself goes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lightkube import AsyncClient
from opkube import report
from test_operator_reconcile import NAME, create, grow, members, patch_spec, replicas

from navigator.operator.cassandra.builders.pilots import PENDING_INTENTS_FINALIZER
from navigator.operator.cassandra.reconcile import Reconciler
from navigator.operator.core.kube import CassandraClusterResource, PilotResource
from navigator.operator.core.workers import GONE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

LEAVING = f"{NAME}-rack1-2"


async def pilot(client: AsyncClient, namespace: str, name: str = LEAVING) -> Any:
    return await client.get(PilotResource, name, namespace=namespace)


async def decommission_asked(client: AsyncClient, reconciler: Reconciler, namespace: str) -> str:
    await create(client, namespace)
    await grow(client, reconciler, namespace, 3)
    await patch_spec(client, namespace, {"nodePools": [{"name": "rack1", "replicas": 2}]})
    await reconciler.reconcile(namespace, NAME)
    (intent,) = (await pilot(client, namespace)).spec["intents"]
    return str(intent["id"])


async def test_a_pilot_deleted_during_a_decommission_keeps_its_intent(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    intent = await decommission_asked(aclient, reconciler, namespace)
    assert PENDING_INTENTS_FINALIZER in (await pilot(aclient, namespace)).metadata.finalizers
    names = await members(aclient, namespace)
    running = {LEAVING: [{"id": intent, "action": "Decommission", "phase": "Running"}]}
    await report(aclient, namespace, names, outcomes=running)

    await aclient.delete(PilotResource, LEAVING, namespace=namespace)
    held = await pilot(aclient, namespace)
    assert held.metadata.deletionTimestamp is not None
    assert [i["id"] for i in held.spec["intents"]] == [intent]
    await reconciler.reconcile(namespace, NAME)
    held = await pilot(aclient, namespace)
    assert [i["id"] for i in held.spec["intents"]] == [intent]  # not lost, not wedged
    assert await replicas(aclient, namespace) == 3

    done = {LEAVING: [{"id": intent, "action": "Decommission", "phase": "Succeeded"}]}
    await report(aclient, namespace, names, outcomes=done, gone=frozenset({LEAVING}))
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 2
    left = [p.metadata.name async for p in aclient.list(PilotResource, namespace=namespace)]
    assert left == names[:2]


async def test_a_finished_intent_releases_the_pilot(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    intent = await decommission_asked(aclient, reconciler, namespace)
    refused = {LEAVING: [{"id": intent, "action": "Decommission", "phase": "Refused"}]}
    await report(aclient, namespace, await members(aclient, namespace), outcomes=refused)
    await reconciler.reconcile(namespace, NAME)
    assert not (await pilot(aclient, namespace)).metadata.finalizers


async def test_deleting_the_cluster_releases_pilots_with_pending_intents(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await decommission_asked(aclient, reconciler, namespace)
    await aclient.delete(CassandraClusterResource, NAME, namespace=namespace)
    left: list[str] = []
    for _ in range(120):
        assert await reconciler.reconcile(namespace, NAME) == GONE
        left = [p.metadata.name async for p in aclient.list(PilotResource, namespace=namespace)]
        if not left:
            break
        await asyncio.sleep(0.5)
    assert left == []
