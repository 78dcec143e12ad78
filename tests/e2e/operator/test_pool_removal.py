"""Issue 13's pool-removal acceptance, end to end: a rack taken out of the
spec of a running cluster on real Cassandra pods, with the data checker
writing at QUORUM to an RF=3 keyspace throughout.

One cluster of three racks (rack1: 1 member, rack2: 2, rack3: 2), in file
order: create → remove rack3 (both its members decommissioned one by one,
highest ordinal first, then its StatefulSet deleted; nothing lost) → remove
rack2 as well, which would leave one node for RF 3: refused with
`PoolRemovalKeepsReplication`, nothing written to any Pilot; putting rack2
back settles the cluster again. Five members is the smallest topology that
proves both: removing a rack of two must leave three nodes for RF 3.
Marked `full`: `make e2e` runs it, CI's subset does not.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from navigator.testing.members import eventually

from .conftest import Env, is_settled, manifest, pool, writing

pytestmark = [pytest.mark.e2e, pytest.mark.full, pytest.mark.timeout(3000)]

NAME = "pools"
RACKS = {"rack1": 1, "rack2": 2, "rack3": 2}
JOIN = 420.0  # seconds a member may take to join and settle on two shared cores
RULE = "PoolRemovalKeepsReplication"


def three_racks() -> dict[str, Any]:
    """Created as it is: the operator grows racks round-robin, so the
    datacenter has its three racks before any rack gets a second member
    (Cassandra's token allocation for RF 3 refuses a node while a datacenter
    has 1 < racks < 3: "the number of racks 2 in datacenter dc1 is lower
    than its replication factor 3")."""
    return manifest(NAME, [pool(n, size) for n, size in RACKS.items()])


def cluster(env: Env) -> dict[str, Any]:
    return env.cassandra(NAME)


def status(env: Env) -> dict[str, Any]:
    return cluster(env).get("status") or {}


def sts_replicas(env: Env, rack: str) -> int | None:
    sts = env.get("statefulset", f"{NAME}-{rack}")
    return None if sts is None else int(sts["spec"]["replicas"])


def pool_index(env: Env, rack: str) -> int:
    names = [p["name"] for p in cluster(env)["spec"]["nodePools"]]
    return names.index(rack)


def event_times(env: Env, reason: str) -> dict[str, datetime]:
    """When each `reason` Event about a member (its first word or its
    `pilot of <member>`) was last emitted (1 s resolution)."""
    out = {}
    for e in env.events(reason):
        words = e["message"].split()
        member = words[4] if reason == "DecommissionRequested" else words[0]
        out[member] = datetime.fromisoformat(e["lastTimestamp"].replace("Z", "+00:00"))
    return out


def removal_figures(env: Env, changed: datetime, leaving: list[str]) -> list[str]:
    """Per member: from its decommission request to its removal (the
    decommission, then the peers forgetting it), and when the StatefulSet
    went, in seconds from the spec change (Event times, 1 s resolution)."""
    asked = event_times(env, "DecommissionRequested")
    gone = event_times(env, "RemovingMember")
    lines = []
    for member in leaving:
        if member in asked and member in gone:
            start, end = asked[member], gone[member]
            lines.append(
                f"{member}: decommission requested at +{(start - changed).total_seconds():.0f} s,"
                f" removed at +{(end - changed).total_seconds():.0f} s"
                f" ({(end - start).total_seconds():.0f} s)"
            )
    deleted = [e["lastTimestamp"] for e in env.events("RemovedPool")]
    if deleted:
        when = datetime.fromisoformat(deleted[0].replace("Z", "+00:00"))
        lines.append(f"StatefulSet deleted at +{(when - changed).total_seconds():.0f} s")
    return lines


def test_create_three_racks_of_five_members(operator_env: Env) -> None:
    env = operator_env
    started = time.monotonic()
    env.apply(three_racks())
    size = sum(RACKS.values())
    eventually(lambda: is_settled(cluster(env), size), timeout=4 * JOIN, what="5 members UN")
    took = time.monotonic() - started
    print(f"\ncreate 3 racks, 5 members -> Ready: {took:.0f} s")
    env.record("pool removal suite: create rack1:1, rack2:2, rack3:2", took, None)
    racks = {m["name"]: m["rack"] for m in status(env)["members"]}
    assert sorted(racks.values()) == ["rack1", "rack2", "rack2", "rack3", "rack3"]


def test_removing_a_rack_of_two_decommissions_both_and_deletes_its_objects(
    operator_env: Env,
) -> None:
    env = operator_env
    leaving = [f"{NAME}-rack3-1", f"{NAME}-rack3-0"]  # highest ordinal first
    operations: set[tuple[str, str]] = set()

    def done() -> bool:
        op = status(env).get("operation") or {}
        if op:
            operations.add((op.get("type", ""), op.get("target", "")))
        return sts_replicas(env, "rack3") is None and is_settled(cluster(env), 3)

    # A removal moves ranges: a copy lost in streaming shows only on its
    # replica, so every copy must be on every replica that owns it.
    notes: list[str] = []
    with writing(env, NAME, "remove rack3 (2 members): 5 -> 3", notes=notes):
        changed = datetime.now(UTC).replace(microsecond=0)
        env.patch_json(
            "cassandracluster",
            NAME,
            [{"op": "remove", "path": f"/spec/nodePools/{pool_index(env, 'rack3')}"}],
        )
        eventually(done, timeout=3 * JOIN, interval=1.0, what="rack3 decommissioned and deleted")
        notes.extend(removal_figures(env, changed, leaving))
        print("\n" + "\n".join(notes))
    assert ("RemovePool", "rack3") in operations, operations
    # Both decommissioned, one at a time, highest ordinal first.
    requested = sorted(env.events("DecommissionRequested"), key=lambda e: e["lastTimestamp"])
    assert [e["message"].split()[4] for e in requested] == leaving, requested
    removals = sorted(env.events("RemovingMember"), key=lambda e: e["lastTimestamp"])
    assert [e["message"].split()[0] for e in removals] == leaving, removals
    assert all("left the ring" in e["message"] for e in removals)
    assert len(env.events("RemovedPool")) == 1
    # The rack's objects are gone; its members' volumes are kept and labelled.
    assert env.get("statefulset", f"{NAME}-rack3") is None
    for member in leaving:
        assert env.get("pilot", member) is None, member
        assert env.get("pod", member) is None, member
        pvc = env.get("pvc", f"data-{member}")
        assert pvc is not None, "the default retention policy keeps the volume"
        assert pvc["metadata"]["labels"].get("navigator.dev/decommissioned") == "true"
    st = status(env)
    assert [p["name"] for p in st["nodePools"]] == ["rack1", "rack2"]
    assert all(m["pool"] != "rack3" for m in st["members"])


def test_removing_a_rack_that_would_break_replication_is_refused(operator_env: Env) -> None:
    """rack1 alone would be one node for the checker's RF 3 keyspace."""
    env = operator_env
    rack2 = next(p for p in cluster(env)["spec"]["nodePools"] if p["name"] == "rack2")
    env.patch_json(
        "cassandracluster",
        NAME,
        [{"op": "remove", "path": f"/spec/nodePools/{pool_index(env, 'rack2')}"}],
    )

    def blocked() -> Any:
        op = status(env).get("operation") or {}
        return op if op.get("blockedBy") else None

    op = eventually(blocked, timeout=60, what="the removal to be refused")
    print(f"\nrefused: {op}")
    assert (op["type"], op["target"]) == ("RemovePool", "rack2")
    assert op["blockedBy"]["rule"] == RULE
    assert "would leave 1 node(s) in datacenter dc1" in op["blockedBy"]["reason"]
    warnings = [e for e in env.events("Blocked") if RULE in e.get("message", "")]
    assert warnings, "a Warning event says why"
    assert all(e["type"] == "Warning" for e in warnings)
    time.sleep(10)
    assert sts_replicas(env, "rack2") == 2
    for i in range(2):
        pilot = env.get("pilot", f"{NAME}-rack2-{i}")
        assert not pilot["spec"].get("intents"), "no decommission was requested"
    assert RULE in env.kubectl("describe", "cassandracluster", NAME)
    # Putting the rack back clears the refusal.
    env.patch_json(
        "cassandracluster", NAME, [{"op": "add", "path": "/spec/nodePools/1", "value": rack2}]
    )
    eventually(lambda: is_settled(cluster(env), 3), timeout=120, what="the refusal to clear")
