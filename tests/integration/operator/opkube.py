"""Helpers for the operator's integration tests: manifests and a fake pilot
that writes Pilot status as a real one would."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from navigator.operator.core.kube import PilotResource


def cluster_manifest(name: str, namespace: str, replicas: int = 3, **spec: Any) -> dict[str, Any]:
    """A cluster with auth off unless `spec` says otherwise: the simulated
    pilots have no Cassandra to log in to (test_operator_auth.py turns it on)."""
    spec.setdefault("auth", {"enabled": False})
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "version": "5.0.6",
            "nodePools": [{"name": "rack1", "replicas": replicas}],
            **spec,
        },
    }


def host_id(member: str) -> str:
    return f"00000000-0000-0000-0000-{abs(hash(member)) % 10**12:012d}"


async def report(
    client: AsyncClient,
    namespace: str,
    members: list[str],
    *,
    rf: int = 1,
    outcomes: dict[str, list[dict[str, Any]]] | None = None,
    gone: frozenset[str] = frozenset(),
) -> None:
    """Write Pilot status for `members` as their pilots would: everyone sees
    everyone (except `gone`) Up/Normal. Like a real pilot, each status names
    the pod that wrote it, and (as the kubelet would from the pilot's
    readiness probe) the pod is marked Ready: there are no nodes here. A
    member whose Pilot does not exist yet is skipped, as a real pilot waits."""
    ring = [m for m in members if m not in gone]
    peers = [
        {
            "address": f"10.0.0.{i}",
            "hostID": host_id(m),
            "up": True,
            "state": "NORMAL",
            "status": "UN",
            "datacenter": "dc1",
            "rack": "rack1",
            "load": "1 MiB",
        }
        for i, m in enumerate(ring)
    ]
    for member in members:
        uid = await _mark_ready(client, namespace, member) if member not in gone else ""
        status = {
            "podUID": uid,
            "observedAt": _now(),
            "ready": True,
            "facts": {
                "hostID": host_id(member),
                "operationMode": "DECOMMISSIONED" if member in gone else "NORMAL",
                "releaseVersion": "5.0.6",
                "peers": peers if member not in gone else [],
                "keyspaces": [
                    {
                        "name": "ks",
                        "strategy": "NetworkTopologyStrategy",
                        "replication": {"dc1": rf},
                    }
                ],
            },
            "intents": (outcomes or {}).get(member, []),
        }
        try:
            await client.patch(
                PilotResource.Status,
                member,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as err:
            # The operator creates a member's Pilot in the pass after the pool
            # grew; a real pilot waits for it, this one reports next time.
            if err.status.code != 404:
                raise


async def _mark_ready(client: AsyncClient, namespace: str, member: str) -> str:
    """The member's pod UID ('' if it has no pod yet), its Ready condition set."""
    try:
        pod = await client.get(Pod, member, namespace=namespace)
    except ApiError:
        return ""
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": _now()}
    await client.patch(
        Pod.Status,
        member,
        {"status": {"conditions": [ready]}},
        namespace=namespace,
        patch_type=PatchType.STRATEGIC,
    )
    return str(pod.metadata.uid) if pod.metadata else ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def members(client: AsyncClient, namespace: str, cluster: str) -> list[str]:
    """The member names of pool rack1 at the StatefulSet's current size."""
    sts = await client.get(StatefulSet, f"{cluster}-rack1", namespace=namespace)
    size = int(sts.spec.replicas or 0) if sts.spec else 0
    return [f"{cluster}-rack1-{i}" for i in range(size)]


async def pods_exist(
    client: AsyncClient, namespace: str, names: list[str], limit: float = 60
) -> None:
    """Wait until the StatefulSet controller has created the pods `names` (a
    controller-manager that just started takes seconds to sync its caches)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        have = {p.metadata.name async for p in client.list(Pod, namespace=namespace) if p.metadata}
        if set(names) <= have:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"pods {names} not created in {namespace} after {limit} s")


def _statefulset_caught_up(sts: StatefulSet) -> bool:
    """The StatefulSet controller has seen the latest spec and counted every pod."""
    spec, status, meta = sts.spec, sts.status, sts.metadata
    if spec is None or status is None or meta is None:
        return False
    want = int(spec.replicas or 0)
    return (
        status.observedGeneration == meta.generation
        and status.replicas == want
        and int(status.updatedReplicas or 0) == want
    )


def _scheduler_decided(pod: Pod) -> bool:
    conditions = (pod.status and pod.status.conditions) or []
    return any(c.type == "PodScheduled" for c in conditions)


async def pods_decided(client: AsyncClient, namespace: str, count: int, limit: float = 120) -> None:
    """Wait until the real controllers are done with what the operator wrote:
    at least `count` pods exist in `namespace`, the scheduler has decided on
    each (PodScheduled set, either way: without nodes they turn
    Unschedulable) and every StatefulSet's status has caught up. Until then
    each such change rightly moves a cluster's status, so counting "writes
    when nothing changed" must wait."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pods = [p async for p in client.list(Pod, namespace=namespace)]
        sets = [s async for s in client.list(StatefulSet, namespace=namespace)]
        if (
            len(pods) >= count
            and all(_scheduler_decided(p) for p in pods)
            and all(_statefulset_caught_up(s) for s in sets)
        ):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"controllers not done with {count} pods in {namespace} after {limit} s")
