"""Write safety against the real API server: a field removed from the spec
leaves the live object; a replica that does not lead writes nothing; a
StatefulSet size decided on a stale read is refused (409) and decided again."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Event, Service
from lightkube.types import PatchType
from opkube import cluster_manifest, members, report

from navigator.operator.cassandra.builders import build_statefulset
from navigator.operator.cassandra.builders.meta import FIELD_MANAGER
from navigator.operator.cassandra.decide import ScaleOut, next_action
from navigator.operator.cassandra.reconcile import AFTER_ACTION, Reconciler, World, observe
from navigator.operator.core.kube import APPLIED_ANNOTATION, CassandraClusterResource, Kube

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NAME = "safe"
TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "cassandra", "effect": "NoSchedule"}


async def create(client: AsyncClient, namespace: str, **spec: Any) -> None:
    obj: Any = CassandraClusterResource(cluster_manifest(NAME, namespace, **spec))
    await client.create(obj)


async def pod_spec(client: AsyncClient, namespace: str) -> dict[str, Any]:
    sts = await client.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)
    return dict(sts.to_dict()["spec"]["template"]["spec"])


async def reconciled_spec(
    client: AsyncClient, reconciler: Reconciler, namespace: str, done: Any
) -> dict[str, Any]:
    """Passes until `done(statefulset)` holds. A pass whose StatefulSet write
    carries a resourceVersion the controller's status update has just
    superseded is refused (409) and ends early, by design; the next pass
    applies. Three passes are plenty; more means the apply never happened."""
    for _ in range(3):
        await reconciler.reconcile(namespace, NAME)
        sts = (await client.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)).to_dict()
        if done(sts):
            return dict(sts)
    raise AssertionError(f"three passes did not apply the change: {sts['spec']}")


async def replicas(client: AsyncClient, namespace: str) -> int:
    sts = await client.get(StatefulSet, f"{NAME}-rack1", namespace=namespace)
    return int(sts.spec.replicas or 0) if sts.spec else 0


async def grow(client: AsyncClient, reconciler: Reconciler, namespace: str, target: int) -> None:
    """Reconcile with healthy simulated pilots until the pool has `target`
    members (a member counts once the StatefulSet controller made its pod)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await reconciler.reconcile(namespace, NAME)
        await report(client, namespace, await members(client, namespace, NAME))
        if await replicas(client, namespace) == target:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"pool did not reach {target} members")


async def decided_to_scale_out(
    client: AsyncClient, reconciler: Reconciler, namespace: str
) -> World:
    """A read on which the reconciler decides to add a member (once the
    member it has reports from its pod)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await report(client, namespace, await members(client, namespace, NAME))
        world = await reconciler.gather(namespace, NAME)
        assert world is not None
        if isinstance(next_action(observe(world, datetime.now(UTC))), ScaleOut):
            return world
        await asyncio.sleep(0.2)
    raise AssertionError("no scale-out decided")


async def test_a_toleration_removed_from_the_spec_leaves_the_statefulset(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    pool = {"name": "rack1", "replicas": 1, "tolerations": [TOLERATION]}
    await create(aclient, namespace, nodePools=[{**pool, "nodeSelector": {"disk": "ssd"}}])
    await grow(aclient, reconciler, namespace, 1)
    assert (await pod_spec(aclient, namespace))["tolerations"] == [TOLERATION]

    await aclient.patch(
        CassandraClusterResource,
        NAME,
        {"spec": {"nodePools": [{"name": "rack1", "replicas": 1}]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    sts = await reconciled_spec(
        aclient, reconciler, namespace, lambda s: "tolerations" not in s["spec"]["template"]["spec"]
    )
    assert "nodeSelector" not in sts["spec"]["template"]["spec"]

    before = reconciler.kube.writes["apply StatefulSet"]
    await reconciler.reconcile(namespace, NAME)
    assert reconciler.kube.writes["apply StatefulSet"] == before, "settled: no more applies"


async def test_a_field_an_earlier_manifest_set_is_removed(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    """Outside the pod template (whose revision annotation changes with any
    field in it), a field the operator no longer sends, here as an earlier
    operator version would have left it, is removed by the next pass."""
    await create(aclient, namespace, replicas=1)
    await grow(aclient, reconciler, namespace, 1)
    world = await reconciler.gather(namespace, NAME)
    assert world is not None
    earlier = build_statefulset(world.cluster, world.cluster.spec.node_pools[0], replicas=1)
    earlier["metadata"]["labels"]["legacy"] = "yes"
    earlier["spec"]["minReadySeconds"] = 30
    kwargs: Any = {"namespace": namespace, "patch_type": PatchType.APPLY, "force": True}
    await aclient.patch(
        StatefulSet, f"{NAME}-rack1", earlier, field_manager=FIELD_MANAGER, **kwargs
    )

    sts = await reconciled_spec(
        aclient, reconciler, namespace, lambda s: "legacy" not in s["metadata"]["labels"]
    )
    assert not sts["spec"].get("minReadySeconds")
    before = reconciler.kube.writes["apply StatefulSet"]
    await reconciler.reconcile(namespace, NAME)
    assert reconciler.kube.writes["apply StatefulSet"] == before, "settled: no more applies"


async def test_an_object_an_older_operator_applied_gets_one_apply_then_settles(
    aclient: AsyncClient, namespace: str
) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "old", "namespace": namespace},
        "spec": {"clusterIP": "None", "ports": [{"name": "cql", "port": 9042}]},
    }
    kwargs: Any = {"namespace": namespace, "patch_type": PatchType.APPLY, "force": True}
    await aclient.patch(Service, "old", manifest, field_manager=FIELD_MANAGER, **kwargs)
    kube = Kube(aclient)

    async def live() -> dict[str, Any]:
        return dict((await aclient.get(Service, "old", namespace=namespace)).to_dict())

    assert await kube.apply(manifest, await live())
    assert APPLIED_ANNOTATION in (await live())["metadata"]["annotations"]
    assert not await kube.apply(manifest, await live())
    assert kube.total_writes == 1


async def test_a_kube_that_does_not_lead_writes_nothing(
    aclient: AsyncClient, namespace: str
) -> None:
    await create(aclient, namespace)
    follower = Reconciler(Kube(aclient, is_leader=lambda: False))
    assert await follower.reconcile(namespace, NAME) is None
    assert follower.kube.total_writes == 0
    assert [s async for s in aclient.list(StatefulSet, namespace=namespace)] == []
    assert [s async for s in aclient.list(Service, namespace=namespace)] == []
    assert [e async for e in aclient.list(Event, namespace=namespace)] == []
    cluster = await aclient.get(CassandraClusterResource, NAME, namespace=namespace)
    assert not cluster.to_dict().get("status")


async def test_a_size_decided_on_a_stale_read_is_refused_and_decided_again(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str, monkeypatch: Any
) -> None:
    """Replica A reads the pool at 1 member; replica B meanwhile grows it to
    3. A's decision, "scale out to 2", would now remove a member that never
    left the ring; its write carries the resourceVersion it read, so the API
    server refuses it, and A's next pass reads again and does nothing wrong."""
    await create(aclient, namespace, replicas=3)
    await grow(aclient, reconciler, namespace, 1)
    stale = await decided_to_scale_out(aclient, reconciler, namespace)

    other = Reconciler(Kube(aclient))
    await grow(aclient, other, namespace, 3)

    async def stale_gather(_namespace: str, _name: str) -> World:
        return stale

    with monkeypatch.context() as patched:
        patched.setattr(reconciler, "gather", stale_gather)
        assert await reconciler.reconcile(namespace, NAME) == AFTER_ACTION
    assert await replicas(aclient, namespace) == 3

    await report(aclient, namespace, await members(aclient, namespace, NAME))
    await reconciler.reconcile(namespace, NAME)
    assert await replicas(aclient, namespace) == 3
