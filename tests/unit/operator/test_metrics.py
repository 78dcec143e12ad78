"""The operator's metrics: writes counted by `Kube`, reconciles by result,
gauges read at scrape time, and the HTTP endpoints."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from navigator.operator.core.kube import Kube, contains, stamped
from navigator.operator.core.metrics import Metrics, MetricsServer
from navigator.quantity import quantity
from navigator.testing.prom import free_port

pytestmark = pytest.mark.unit

WRITES = "navigator_operator_api_writes_total"


class FakeClient:
    """Records the write calls `Kube` makes; every call succeeds."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def patch(self, *_: Any, **__: Any) -> None:
        self.calls.append("patch")

    async def delete(self, *_: Any, **__: Any) -> None:
        self.calls.append("delete")

    async def create(self, *_: Any, **__: Any) -> None:
        self.calls.append("create")


def service(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"ports": [{"port": port}]},
    }


def kube() -> tuple[Kube, FakeClient, Metrics]:
    client, metrics = FakeClient(), Metrics()
    return Kube(client, metrics=metrics), client, metrics  # type: ignore[arg-type]


def written(metrics: Metrics, kind: str, verb: str) -> float:
    return metrics.registry.get_sample_value(WRITES, {"kind": kind, "verb": verb}) or 0.0


async def test_apply_counts_a_write_only_when_it_makes_one() -> None:
    k, client, metrics = kube()
    applied = stamped(service(9042))  # as a previous apply left it
    live = {**applied, "status": {}, "metadata": {**applied["metadata"], "uid": "u"}}
    assert not await k.apply(service(9042), live)
    assert client.calls == []
    assert metrics.writes() == 0
    assert await k.apply(service(7000), live)
    assert client.calls == ["patch"]
    assert written(metrics, "Service", "apply") == 1
    assert k.writes == {"apply Service": 1}


async def test_quantities_the_api_server_canonicalized_are_no_change() -> None:
    """The API server stores "2048Mi" as "2Gi": that must not cost a write on
    every pass (nor must a real change be missed)."""
    k, client, metrics = kube()

    def sts(memory: str, cpu: str) -> dict[str, Any]:
        resources = {"limits": {"memory": memory}, "requests": {"cpu": cpu}}
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "c-a", "namespace": "ns"},
            "spec": {"template": {"spec": {"containers": [{"resources": resources}]}}},
        }

    live = {**sts("2Gi", "1"), "metadata": stamped(sts("2048Mi", "1000m"))["metadata"]}
    assert not await k.apply(sts("2048Mi", "1000m"), live)
    assert metrics.writes() == 0
    assert await k.apply(sts("2049Mi", "1000m"), live)
    assert await k.apply(sts("2Gi", "1500m"), live)
    assert client.calls == ["patch", "patch"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2Gi", 2 * 2**30),
        ("500m", 0.5),
        ("1e3", 1000),
        ("1k", 1000),
        (3, 3),
        ("1.5Gi", 1.5 * 2**30),
    ],
)
def test_quantity(text: str | int, value: float) -> None:
    assert quantity(text) == Decimal(str(value))


def test_not_a_quantity() -> None:
    assert quantity("5.0.6") is None
    assert quantity("true") is None
    assert not contains({"env": [{"value": "1k"}]}, {"env": [{"value": "1000"}]})


async def test_every_write_verb_is_counted_by_kind() -> None:
    k, client, metrics = kube()
    await k.apply_status("CassandraCluster", "c", "ns", {"status": {}})
    await k.delete("Pilot", "c-a-0", "ns")
    cluster = {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
    }
    await k.event(cluster, reason="ScalingOut", message="adding member 1")
    assert client.calls == ["patch", "delete", "create"]
    assert written(metrics, "CassandraCluster", "status") == 1
    assert written(metrics, "Pilot", "delete") == 1
    assert written(metrics, "Event", "create") == 1
    assert metrics.writes() == k.total_writes == 3


async def test_kube_without_metrics_still_counts_its_writes() -> None:
    client = FakeClient()
    k = Kube(client)  # type: ignore[arg-type]
    await k.delete("Pilot", "p", "ns")
    assert k.writes == {"delete Pilot": 1}


async def test_reconciles_are_counted_by_result_and_timed() -> None:
    metrics = Metrics()
    answers: list[float | Exception | None] = [None, 1.0, RuntimeError("boom")]

    async def reconcile(namespace: str, name: str) -> float | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    counted = metrics.instrument(reconcile)
    assert await counted("ns", "c") is None
    assert await counted("ns", "c") == 1.0
    with pytest.raises(RuntimeError):
        await counted("ns", "c")
    total = "navigator_operator_reconciles_total"
    for result in ("success", "requeue_after", "error"):
        assert metrics.registry.get_sample_value(total, {"result": result}) == 1
    duration = "navigator_operator_reconcile_duration_seconds_count"
    assert metrics.registry.get_sample_value(duration) == 3
    assert metrics.reconciles_done() == 3


async def test_a_cancelled_reconcile_is_not_counted() -> None:
    metrics = Metrics()

    async def reconcile(namespace: str, name: str) -> float | None:
        await asyncio.sleep(10)
        return None

    task = asyncio.create_task(metrics.instrument(reconcile)("ns", "c"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert metrics.reconciles_done() == 0


def test_gauges_are_read_when_scraped() -> None:
    metrics = Metrics()
    leader, clusters = [False], [0]
    metrics.watch_leader(lambda: leader[0])
    metrics.watch_clusters(lambda: clusters[0])
    get = metrics.registry.get_sample_value
    assert get("navigator_operator_is_leader") == 0
    leader[0], clusters[0] = True, 50
    assert get("navigator_operator_is_leader") == 1
    assert get("navigator_operator_clusters") == 50


async def test_server_exposes_metrics_and_health() -> None:
    metrics, problem = Metrics(), [None]
    metrics.count_write("apply", "StatefulSet")
    port = free_port()
    server = MetricsServer(metrics, port=port, host="127.0.0.1", health=lambda: problem[0])
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/metrics") as resp:
                text = await resp.text()
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
            assert f'{WRITES}{{kind="StatefulSet",verb="apply"}} 1.0' in text
            assert "process_resident_memory_bytes" in text
            async with http.get("/healthz") as resp:
                assert (resp.status, await resp.text()) == (200, "ok\n")
            problem[0] = "the lease loop stopped"  # type: ignore[call-overload]
            async with http.get("/healthz") as resp:
                assert resp.status == 503
                assert "lease loop" in await resp.text()
    finally:
        await server.stop()
