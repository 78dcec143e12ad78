"""The per-cluster loops: serialized passes, and no loop left for a deleted cluster."""

from __future__ import annotations

import asyncio

import pytest

from navigator.operator.core.workers import GONE, Workers

pytestmark = pytest.mark.unit


async def test_a_loop_for_a_cluster_that_is_gone_ends() -> None:
    calls: list[tuple[str, str]] = []

    async def reconcile(namespace: str, name: str) -> float | None:
        calls.append((namespace, name))
        return GONE if name == "deleted" else None

    workers = Workers(reconcile, resync=60, is_leader=lambda: True)
    workers.wake("ns", "deleted")
    workers.wake("ns", "live")
    for _ in range(50):
        await asyncio.sleep(0.01)
        if len(calls) >= 2 and len(workers) == 1:
            break
    assert len(workers) == 1, "only the live cluster keeps a loop"
    workers.wake("ns", "deleted")  # a late child event: one pass, then gone again
    await asyncio.sleep(0.05)
    assert calls.count(("ns", "deleted")) == 2
    assert len(workers) == 1
    await workers.stop()
