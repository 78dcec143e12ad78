"""The operator's Prometheus metrics and the small HTTP server that exposes
them with a liveness endpoint.

| metric | type | labels |
|---|---|---|
| `navigator_operator_reconciles_total` | counter | `result`: success, requeue_after, error |
| `navigator_operator_reconcile_duration_seconds` | histogram | |
| `navigator_operator_api_writes_total` | counter | `kind`, `verb`: apply, status, delete, create |
| `navigator_operator_is_leader` | gauge | |
| `navigator_operator_clusters` | gauge | |
| `navigator_operator_build_info` | gauge | `version` |

plus the process collector's `process_*` figures (RSS, CPU, open files).

Each operator has its own registry rather than the library's global one, so
tests and benchmarks can run several side by side and read exact counts.

The server runs on the operator's own event loop: `/healthz` answering at all
means the loop is not stuck, which a server thread could not tell.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from navigator.operator.core.workers import Reconcile

log = logging.getLogger(__name__)

PREFIX = "navigator_operator"
DEFAULT_PORT = 8080
# One pass is a handful of requests (tens of ms); a slow API server or a big
# cluster may take seconds.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Health = Callable[[], str | None]  # None: healthy; otherwise why not


def _version() -> str:
    try:
        return version("navigator")
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """Every metric of one operator process, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.registry = registry
        self.reconciles = Counter(
            f"{PREFIX}_reconciles",
            "Reconcile passes, by result (requeue_after: asked to come back soon).",
            ["result"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.api_writes = Counter(
            f"{PREFIX}_api_writes",
            "Writes to the API server made by reconciles (apply, status, delete, create).",
            ["kind", "verb"],
            registry=registry,
        )
        self.is_leader = Gauge(
            f"{PREFIX}_is_leader", "1 while this replica holds the Lease.", registry=registry
        )
        self.clusters = Gauge(
            f"{PREFIX}_clusters", "CassandraClusters this replica tracks.", registry=registry
        )
        build = Gauge(
            f"{PREFIX}_build_info", "Always 1; the version label.", ["version"], registry=registry
        )
        build.labels(version=_version()).set(1)

    def count_write(self, verb: str, kind: str) -> None:
        self.api_writes.labels(kind=kind, verb=verb).inc()

    def writes(self) -> float:
        """All writes counted so far (for tests and benchmarks)."""
        return _total(self.registry, f"{PREFIX}_api_writes_total")

    def reconciles_done(self) -> float:
        return _total(self.registry, f"{PREFIX}_reconciles_total")

    def watch_leader(self, is_leader: Callable[[], bool]) -> None:
        self.is_leader.set_function(lambda: 1.0 if is_leader() else 0.0)

    def watch_clusters(self, count: Callable[[], int]) -> None:
        self.clusters.set_function(lambda: float(count()))

    def instrument(self, reconcile: Reconcile) -> Reconcile:
        """`reconcile`, timed and counted by result."""

        async def counted(namespace: str, name: str) -> float | None:
            started = time.perf_counter()
            result = "error"
            try:
                after = await reconcile(namespace, name)
                result = "success" if after is None else "requeue_after"
                return after
            except asyncio.CancelledError:
                result = ""  # stopped, not finished: counted as nothing
                raise
            finally:
                if result:
                    self.reconciles.labels(result=result).inc()
                    self.reconcile_seconds.observe(time.perf_counter() - started)

        return counted

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _total(registry: CollectorRegistry, sample: str) -> float:
    return sum(s.value for metric in registry.collect() for s in metric.samples if s.name == sample)


class MetricsServer:
    """`/metrics` (Prometheus text format) and `/healthz` on one port."""

    def __init__(
        self, metrics: Metrics, *, port: int, host: str = "0.0.0.0", health: Health = lambda: None
    ) -> None:
        self.metrics, self.port, self.host, self.health = metrics, port, host, health
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _healthz(self, _: web.Request) -> web.Response:
        problem = self.health()
        if problem:
            return web.Response(status=503, text=f"unhealthy: {problem}\n")
        return web.Response(text="ok\n")
