"""The operator process's metrics endpoint: once a cluster is settled, its
periodic reconciles make no API write (issue 7's "writes per reconcile when
nothing changed" is 0), and the gauges and health say what they should."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from opkube import cluster_manifest, members, report

from navigator.operator.core.kube import CassandraClusterResource
from navigator.testing.operator import OperatorProcess
from navigator.testing.prom import free_port, scrape, total

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        return int(resp.status)


@pytest.fixture
def operator_port(
    local_cluster: Any, namespace: str, navigator_crds: None, tmp_path: Path
) -> Iterator[int]:
    """One operator replica resyncing every second, its metrics on a free port."""
    op = OperatorProcess(
        local_cluster.kubeconfig,
        tmp_path / "operator.log",
        namespace,
        identity="metrics",
        resync=1,
        namespaces=(namespace,),
        metrics_port=free_port(),
    )
    with op:
        yield op.metrics_port
    print(f"--- operator:\n{op.tail()}")


async def until(check: Any, limit: float = 90) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if got := await check():
                return got
        except Exception:  # not there yet
            pass
        await asyncio.sleep(0.3)
    raise AssertionError("condition not reached in time")


async def test_settled_cluster_reconciles_without_writes(
    aclient: AsyncClient, namespace: str, operator_port: int
) -> None:
    obj: Any = CassandraClusterResource(cluster_manifest("quiet", namespace, replicas=2))
    await aclient.create(obj)

    async def grown() -> bool:
        await report(aclient, namespace, await members(aclient, namespace, "quiet"))
        sts = await aclient.get(StatefulSet, "quiet-rack1", namespace=namespace)
        return sts.spec is not None and sts.spec.replicas == 2

    async def settled() -> bool:
        got = await aclient.get(CassandraClusterResource, "quiet", namespace=namespace)
        st = got.to_dict().get("status") or {}
        return st.get("readyMembers") == "0/2" and "operation" not in st

    await until(grown)
    await until(settled)

    async def writes_stable() -> float | None:
        before = total(scrape(operator_port), "navigator_operator_api_writes_total")
        await asyncio.sleep(2)
        after = scrape(operator_port)
        return after if total(after, "navigator_operator_api_writes_total") == before else None

    base = await until(writes_stable)
    reconciles = "navigator_operator_reconciles_total"

    async def three_more() -> dict[str, float] | None:
        now = scrape(operator_port)
        return now if total(now, reconciles) >= total(base, reconciles) + 3 else None

    later = await until(three_more, limit=30)
    writes = "navigator_operator_api_writes_total"
    assert total(later, writes) == total(base, writes), {
        k: v for k, v in later.items() if k.startswith(writes)
    }
    assert total(later, reconciles + '{result="error"}') == 0
    assert later["navigator_operator_is_leader"] == 1
    # Every cluster in the watched namespace (this one), none from elsewhere.
    assert later["navigator_operator_clusters"] == 1
    assert healthz(operator_port) == 200
