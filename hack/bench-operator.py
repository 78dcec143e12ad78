"""Measure the operator on this machine and print the figures (issue 7).

    uv run python hack/bench-operator.py [--changes 20] [--clusters 50] [--members 3]

On a control plane of its own (no nodes: pilots are simulated by writing
Pilot status, as tests/integration/operator/opkube.py does), with the real
`navigator operator` process running:

a. spec change -> first API write: the time from a user's spec change (the
   pool's memory, which changes the StatefulSet's template) until the
   operator's StatefulSet write is seen on a watch; p50/p90 over --changes;
b. API writes per reconcile when nothing changed: once --clusters clusters
   are settled, the growth of `navigator_operator_api_writes_total` over the
   growth of `navigator_operator_reconciles_total` while resyncs run (from
   the operator's metrics endpoint; the target is 0);
c. the operator's RSS (from /proc) with --clusters clusters of --members
   members each, grown to full size through the operator's own scale-outs.

Uses the ports and addresses of test slot $NAVIGATOR_TEST_SLOT (default 8)
in a temporary directory, and always tears everything down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, KubeConfig
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.types import PatchType

from navigator.local import cluster, processes
from navigator.local.paths import Binaries
from navigator.operator.core.kube import CassandraClusterResource, quantity
from navigator.testing.operator import OperatorProcess
from navigator.testing.prom import free_port, scrape, total
from navigator.testing.pytest_plugin import LocalCluster, install_crds, isolated_cluster_config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration" / "operator"))
from opkube import cluster_manifest, pods_decided, report  # noqa: E402

MIB = 1024 * 1024
NAMESPACE = "bench"
RESYNC = 10.0  # seconds; production default is 60, shorter here so (b) sees many passes
WRITES = "navigator_operator_api_writes_total"
RECONCILES = "navigator_operator_reconciles_total"


async def sizes(client: AsyncClient) -> dict[str, int]:
    """StatefulSet replicas by cluster name."""
    out = {}
    async for sts in client.list(StatefulSet, namespace=NAMESPACE):
        assert sts.metadata is not None
        assert sts.metadata.labels is not None
        assert sts.spec
        out[sts.metadata.labels["navigator.dev/cluster"]] = int(sts.spec.replicas or 0)
    return out


async def settled(client: AsyncClient, names: list[str], size: int) -> bool:
    async for obj in client.list(CassandraClusterResource, namespace=NAMESPACE):
        raw = obj.to_dict()
        st = raw.get("status") or {}
        if raw["metadata"]["name"] in names and (
            "operation" in st or st.get("readyMembers") != f"0/{size}"
        ):
            return False
    return True


async def grow(client: AsyncClient, names: list[str], size: int, limit: float = 900) -> float:
    """Create the clusters and play their pilots until every one is at full
    size and settled; returns the seconds it took."""
    started = time.monotonic()
    for name in names:
        obj: Any = CassandraClusterResource(cluster_manifest(name, NAMESPACE, replicas=size))
        await client.create(obj)
    reported: dict[str, int] = {}
    while time.monotonic() - started < limit:
        now = await sizes(client)
        for name, n in now.items():
            if n and reported.get(name) != n:
                with contextlib.suppress(Exception):  # a Pilot not written yet
                    members = [f"{name}-rack1-{i}" for i in range(n)]
                    await report(client, NAMESPACE, members)
                    reported[name] = n
        if all(now.get(n) == size for n in names) and await settled(client, names, size):
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise SystemExit(f"clusters not at full size after {limit} s: {await sizes(client)}")


async def change_latency(client: AsyncClient, changes: int) -> list[float]:
    """(a): spec change -> the operator's StatefulSet write, seen on a watch."""
    await grow(client, ["lat"], 1)
    seen: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    async def watch() -> None:
        async for _, sts in client.watch(StatefulSet, namespace=NAMESPACE):
            raw = sts.to_dict()
            if raw["metadata"]["name"] == "lat-rack1":
                container = raw["spec"]["template"]["spec"]["containers"][0]
                memory = (container.get("resources") or {}).get("limits", {}).get("memory", "")
                await seen.put((time.monotonic(), str(memory)))

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(1)
    latencies = []
    try:
        for i in range(changes):
            memory = f"{1024 + 64 * (i + 1)}Mi"
            pool = {"name": "rack1", "replicas": 1, "resources": {"limits": {"memory": memory}}}
            started = time.monotonic()
            await client.patch(
                CassandraClusterResource,
                "lat",
                {"spec": {"nodePools": [pool]}},
                namespace=NAMESPACE,
                patch_type=PatchType.MERGE,
            )
            while True:
                if watcher.done():
                    watcher.result()  # raises what stopped it
                at, got = await asyncio.wait_for(seen.get(), timeout=30)
                if quantity(got) == quantity(memory):  # the API server may respell it
                    latencies.append(at - started)
                    break
            await asyncio.sleep(1.0)  # let that reconcile finish (status write)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return latencies


async def writes_per_reconcile(port: int, passes: int) -> tuple[float, float]:
    """(b): writes over reconciles while only resyncs run; any write is
    listed by kind and verb, so a regression says what it wrote."""
    before = scrape(port)
    while True:
        await asyncio.sleep(2)
        now = scrape(port)
        done = total(now, RECONCILES) - total(before, RECONCILES)
        if done >= passes:
            for key, value in sorted(now.items()):
                if key.startswith(WRITES + "{") and value > before.get(key, 0):
                    print(f"  write while settled: {key} +{value - before.get(key, 0):.0f}")
            return total(now, WRITES) - total(before, WRITES), done


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * share) - 1)]


async def measure(kube: LocalCluster, args: argparse.Namespace, pid: int, port: int) -> None:
    client = AsyncClient(
        config=KubeConfig.from_file(kube.kubeconfig), field_manager="navigator-bench"
    )
    try:
        await asyncio.sleep(3)  # kopf's watches start
        idle_rss = processes.rss_bytes(pid)
        latencies = await change_latency(client, args.changes)
        names = [f"c{i:02d}" for i in range(args.clusters)]
        grow_seconds = await grow(client, names, args.members)
        await pods_decided(client, NAMESPACE, args.clusters * args.members + 1, limit=300)
        await asyncio.sleep(RESYNC)  # the last wakes drain
        writes, passes = await writes_per_reconcile(port, 2 * (args.clusters + 1))
        rss = processes.rss_bytes(pid)
        peak = _peak_rss(pid)
    finally:
        await client.close()
    ms = [x * 1000 for x in latencies]
    rows = [
        (
            f"(a) spec change -> first API write, {len(ms)} changes",
            f"p50 {statistics.median(ms):.0f} ms, p90 {percentile(ms, 0.9):.0f} ms,"
            f" max {max(ms):.0f} ms",
        ),
        (
            f"(b) API writes per reconcile, nothing changed ({passes:.0f} passes)",
            f"{writes / passes:.2f} ({writes:.0f} writes)",
        ),
        (
            f"(c) operator RSS, {args.clusters} clusters x {args.members} members",
            f"{rss / MIB:.0f} MiB (peak {peak / MIB:.0f} MiB; no clusters: {idle_rss / MIB:.0f})",
        ),
        (
            f"    {args.clusters} clusters created and grown to full size in",
            f"{grow_seconds:.0f} s",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"operator (control plane only, pilots simulated, resync {RESYNC:.0f} s):")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--members", type=int, default=3)
    args = parser.parse_args()
    bins = Binaries.from_cache()
    slot = int(os.environ.get("NAVIGATOR_TEST_SLOT", "8"))
    with tempfile.TemporaryDirectory(prefix="nav-bench-operator-") as tmp:
        cfg = isolated_cluster_config(Path(tmp) / "state", slot=slot)
        kube = LocalCluster(cfg, bins)
        log = Path(tmp) / "operator.log"
        try:
            cluster.up(cfg, bins=bins, say=lambda _: None)
            install_crds(kube)
            kube.kubectl("create", "namespace", NAMESPACE)
            port = free_port()
            with OperatorProcess(
                kube.kubeconfig, log, NAMESPACE, identity="bench", resync=RESYNC, metrics_port=port
            ) as proc:
                asyncio.run(measure(kube, args, proc.pid, port))
        except BaseException:
            if log.exists():
                print(f"--- operator log (tail):\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            cluster.down(cfg, bins=bins, say=lambda _: None)


if __name__ == "__main__":
    main()
