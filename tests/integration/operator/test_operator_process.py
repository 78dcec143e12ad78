"""`navigator operator` as a process: kopf wakes the reconcile, the Lease
elects one of two replicas, and a spec change reaches the StatefulSet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType
from opkube import cluster_manifest, members, report

from navigator.operator.kube import CassandraClusterResource
from navigator.testing.operator import OperatorProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def operators(
    local_cluster: Any, namespace: str, navigator_crds: None, tmp_path: Path
) -> Iterator[list[str]]:
    """Two operator replicas sharing one Lease in the test namespace, both
    watching only that namespace."""
    replicas = [
        OperatorProcess(
            local_cluster.kubeconfig,
            tmp_path / f"{name}.log",
            namespace,
            identity=name,
            resync=5,
            lease_seconds=6,
            namespaces=(namespace,),
        ).start()
        for name in ("op-a", "op-b")
    ]
    try:
        yield [r.identity for r in replicas]
    finally:
        for r in replicas:
            r.stop()
            print(f"--- {r.identity}:\n{r.tail()}")


async def until(check: Any, limit: float = 60) -> Any:
    deadline = time.monotonic() + limit
    while True:
        try:
            if got := await check():
                return got
        except Exception:  # not there yet
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.3)


async def test_one_of_two_replicas_acts_and_follows_changes(
    aclient: AsyncClient, namespace: str, operators: list[str]
) -> None:
    obj: Any = CassandraClusterResource(cluster_manifest("demo", namespace, replicas=2))
    started = time.monotonic()
    await aclient.create(obj)

    async def sts_replicas() -> int | None:
        sts = await aclient.get(StatefulSet, "demo-rack1", namespace=namespace)
        return sts.spec.replicas if sts.spec else None

    async def created() -> bool:
        return await sts_replicas() is not None

    await until(created)
    first_write = time.monotonic() - started
    lease = await aclient.get(Lease, "navigator-operator", namespace=namespace)
    assert lease.spec is not None
    assert lease.spec.holderIdentity in operators

    async def grown() -> bool:
        await report(aclient, namespace, await members(aclient, namespace, "demo"))
        return await sts_replicas() == 2

    await until(grown, limit=90)

    async def settled() -> bool:
        got = await aclient.get(CassandraClusterResource, "demo", namespace=namespace)
        st = got.to_dict().get("status") or {}
        return st.get("readyMembers") == "0/2" and "operation" not in st

    await until(settled)
    await aclient.patch(
        CassandraClusterResource,
        "demo",
        {"spec": {"paused": True}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    async def paused() -> bool:
        got = await aclient.get(CassandraClusterResource, "demo", namespace=namespace)
        return (got.to_dict().get("status") or {}).get("phase") == "Paused"

    await until(paused)
    print(f"\ncreate -> StatefulSet written: {first_write:.2f} s")


async def test_a_namespaced_operator_leaves_other_namespaces_alone(
    aclient: AsyncClient, namespace: str, operators: list[str]
) -> None:
    """--namespace: a cluster elsewhere gets no StatefulSet and no status,
    while one in the watched namespace is reconciled meanwhile."""
    other = f"{namespace}-other"
    await aclient.create(Namespace(metadata=ObjectMeta(name=other)))
    try:
        await aclient.create(CassandraClusterResource(cluster_manifest("elsewhere", other)))
        await aclient.create(CassandraClusterResource(cluster_manifest("here", namespace)))

        async def here_reconciled() -> bool:
            await aclient.get(StatefulSet, "here-rack1", namespace=namespace)
            got = await aclient.get(CassandraClusterResource, "here", namespace=namespace)
            return bool((got.to_dict().get("status") or {}).get("observedGeneration"))

        await until(here_reconciled)
        await asyncio.sleep(3)  # more than a wake-up's latency, in case one was coming
        untouched = await aclient.get(CassandraClusterResource, "elsewhere", namespace=other)
        assert not untouched.to_dict().get("status")
        assert [s async for s in aclient.list(StatefulSet, namespace=other)] == []
    finally:
        await aclient.delete(Namespace, other)
