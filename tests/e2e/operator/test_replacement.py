"""Issue 13's dead-node replacement, end to end, on real Cassandra pods with
the data checker writing at QUORUM to an RF=3 keyspace throughout.

One cluster of three members on three nodes, in file order: create → lose one member's
volume (its claim and its pod deleted): the member comes back on a new, empty
volume, its pilot holds, the operator asks it to replace its old self, and it
takes over the old node's tokens with their data streamed from the replicas.
Afterwards no peer holds a down host ID, and every acknowledged row is on
every replica that owns it, each replica read alone. Then a node gone for
good (its agent stopped, its Node deleted): the member on it is rescheduled
onto another node and replaced the same way.

Marked `full`: `make e2e` runs it, CI's subset does not.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from navigator.local import processes
from navigator.testing.members import eventually

from .conftest import Env, cql_login, is_settled, manifest, pool, writing

pytestmark = [pytest.mark.e2e, pytest.mark.full, pytest.mark.timeout(1800)]

NAME = "heal"
POOL = "rack1"
LOST = f"{NAME}-{POOL}-2"
JOIN = 420.0  # seconds a member may take to join and settle on two shared cores


def tokens_by_address(env: Env, via: str) -> dict[str, frozenset[str]]:
    """Every node's tokens as the node at `via` knows them (its own from
    system.local, the others' from system.peers), by address."""
    session = cql_login(via, env.credentials(NAME))
    try:
        out = {via: frozenset(session.execute("SELECT tokens FROM system.local").one().tokens)}
        for row in session.execute("SELECT peer, tokens FROM system.peers"):
            out[str(row.peer)] = frozenset(row.tokens or ())
        return out
    finally:
        session.cluster.shutdown()


def pod_ip(env: Env, member: str) -> str:
    return str(((env.get("pod", member) or {}).get("status") or {}).get("podIP") or "")


def pilot(env: Env, member: str) -> dict[str, Any]:
    return env.get("pilot", member) or {}


def down_host_ids(env: Env) -> dict[str, list[str]]:
    """Per member, the host IDs its pilot sees down (DN and the like)."""
    out = {}
    for member in (f"{NAME}-{POOL}-{i}" for i in range(3)):
        peers = ((pilot(env, member).get("status") or {}).get("facts") or {}).get("peers") or []
        out[member] = [p["hostID"] for p in peers if str(p.get("status", "")).startswith("D")]
    return out


def test_create_three_members(operator_env: Env) -> None:
    env = operator_env
    started = time.monotonic()
    env.apply(manifest(NAME, [pool(POOL, 3)]))
    eventually(lambda: is_settled(env.cassandra(NAME), 3), timeout=3 * JOIN, interval=3)
    env.record("replacement: create 3 members", time.monotonic() - started, None)


def test_a_lost_volume_is_replaced_with_the_same_tokens(operator_env: Env) -> None:
    env = operator_env
    old_ip = pod_ip(env, LOST)
    witness = pod_ip(env, f"{NAME}-{POOL}-0")
    old_tokens = tokens_by_address(env, witness)[old_ip]
    old_host = next(
        m["hostID"] for m in env.cassandra(NAME)["status"]["members"] if m["name"] == LOST
    )
    notes: list[str] = []
    with writing(env, NAME, "replacement: volume lost", notes=notes):
        started = time.monotonic()
        env.kubectl("delete", "pvc", f"data-{LOST}", "--wait=false")
        env.kubectl("delete", "pod", LOST, "--wait=false")
        eventually(lambda: bool(env.events("ReplacingMember")), timeout=JOIN, interval=2)
        asked = time.monotonic() - started
        eventually(lambda: is_settled(env.cassandra(NAME), 3), timeout=2 * JOIN, interval=3)
        took = time.monotonic() - started
        notes += [
            f"the member's Replace asked {asked:.0f} s after its claim and pod were deleted",
            f"the cluster settled (3 members UN) {took:.0f} s after",
        ]
    start = (pilot(env, LOST).get("status") or {}).get("start") or {}
    assert start.get("plan") == "Replace", start
    assert start.get("replacing") == old_ip, start
    assert start.get("volumeEmpty") is True, start
    outcomes = (pilot(env, LOST).get("status") or {}).get("intents") or []
    assert [o["phase"] for o in outcomes if o["action"] == "Replace"] == ["Succeeded"], outcomes
    new_ip = pod_ip(env, LOST)
    eventually(lambda: tokens_by_address(env, witness).get(new_ip) == old_tokens, timeout=60)
    assert old_ip == new_ip or old_ip not in tokens_by_address(env, witness)
    eventually(lambda: not any(down_host_ids(env).values()), timeout=120, interval=3)
    hosts = {m["name"]: m["hostID"] for m in env.cassandra(NAME)["status"]["members"]}
    assert len(set(hosts.values())) == 3, hosts
    print(f"same {len(old_tokens)} tokens; host ID {old_host} -> {hosts[LOST]}")


def test_a_member_whose_node_is_gone_is_rescheduled_and_replaced(operator_env: Env) -> None:
    """A node agent stopped for good and its Node deleted: the member's pod
    is garbage-collected, its replacement cannot be scheduled (its local
    volume is pinned to the gone node), so the operator deletes its claim and
    pod (`ReleasingVolume`); it comes back on another node, on a new volume, and
    replaces its old self. The node is killed without a drain, so a copy may
    miss on a replica (as when Cassandra is SIGKILLed), never a row."""
    env = operator_env
    victim = f"{NAME}-{POOL}-1"
    node = env.get("pod", victim)["spec"]["nodeName"]
    old_ip = pod_ip(env, victim)
    cfg = env.cluster.config
    notes: list[str] = []
    with writing(env, NAME, "replacement: node gone", copies_may_miss=True, notes=notes):
        started = time.monotonic()
        assert processes.stop(cfg.layout.pidfile(f"agent-{node}"))
        env.cluster.kubectl("delete", "node", node, "--wait=false")
        eventually(lambda: bool(env.events("ReleasingVolume")), timeout=JOIN, interval=2)
        released = time.monotonic() - started
        eventually(lambda: is_settled(env.cassandra(NAME), 3), timeout=2 * JOIN, interval=3)
        took = time.monotonic() - started
        notes += [
            f"policy: a volume pinned to a deleted Node is lost for good; claim and pod"
            f" deleted {released:.0f} s after the node was deleted (pod GC, then the"
            " replacement pod found unschedulable)",
            f"the member replaced on another node; the cluster settled {took:.0f} s after",
        ]
    assert env.get("pod", victim)["spec"]["nodeName"] != node
    start = (pilot(env, victim).get("status") or {}).get("start") or {}
    assert start.get("plan") == "Replace", start
    assert start.get("replacing") == old_ip, start
    eventually(lambda: not any(down_host_ids(env).values()), timeout=120, interval=3)
