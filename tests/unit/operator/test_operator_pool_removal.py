"""Removing a pool (rack) from the spec, and adding one to a running cluster:
how a removed pool is observed, the rule that refuses a removal, the
decisions step by step, and the status it shows (issue 13)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from opsim import DECOMMISSION_G1 as G
from opsim import NOW, forget, map_member, observed, set_peer_status, with_outcome

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.api.pilot import Keyspace
from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.builders import build_statefulset
from navigator.operator.cassandra.decide import (
    CreatePool,
    DeletePool,
    RequestDecommission,
    ScaleIn,
    ScaleOut,
    Wait,
    next_action,
)
from navigator.operator.cassandra.observed import Observed
from navigator.operator.cassandra.reconcile import World, observe
from navigator.operator.cassandra.removed import pool_of, removed_pools
from navigator.operator.cassandra.status import build_status
from navigator.operator.core.revision import REVISION_ANNOTATION

pytestmark = pytest.mark.unit

REMOVE = "RemovePool"


def removing(obs: Observed, *names: str) -> Observed:
    """`obs` after the user took pools `names` out of the spec: their
    StatefulSets and members are still there (as `observe` finds them)."""
    spec = obs.spec.model_copy(
        update={"node_pools": [q for q in obs.spec.node_pools if q.name not in names]}
    )
    pools = tuple(
        replace(s, removed=True, pool=s.pool.model_copy(update={"replicas": 0}))
        if s.name in names
        else s
        for s in obs.pools
    )
    return replace(obs, spec=spec, pools=pools)


def three_racks(rf: int = 3, **kw: Any) -> Observed:
    """rack a: 1 member, b: 2, c: 2 (the e2e topology), RF `rf` in dc1."""
    return observed([("a", 1, 1), ("b", 2, 2), ("c", 2, 2)], rf=rf, **kw)


def member(obs: Observed, name: str) -> Any:
    return next(m for m in obs.members() if m.name == name)


def pool(obs: Observed, name: str) -> Any:
    state = obs.pool(name)
    assert state is not None
    return state


def in_datacenter(obs: Observed, pool_name: str, datacenter: str, **factors: int) -> Observed:
    """`obs` with pool `pool_name` (and its members) in `datacenter`, and
    every member reporting keyspace ks with replication `factors`."""
    keyspaces = [Keyspace(name="ks", replication=factors)]
    pools = []
    for s in obs.pools:
        members = []
        for m in s.members:
            assert m.pilot is not None
            assert m.pilot.facts is not None
            facts = m.pilot.facts.model_copy(update={"keyspaces": keyspaces})
            changed = replace(m, pilot=m.pilot.model_copy(update={"facts": facts}))
            if s.name == pool_name:
                changed = replace(changed, datacenter=datacenter)
            members.append(changed)
        moved = s.pool.model_copy(update={"datacenter": datacenter})
        pools.append(
            replace(s, members=tuple(members), pool=moved if s.name == pool_name else s.pool)
        )
    return replace(obs, pools=tuple(pools))


# --- the rule -----------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "removed", "rf", "kept"),
    [
        ([("a", 1, 1), ("b", 2, 2), ("c", 2, 2)], "c", 3, None),  # 3 stay for RF 3
        ([("a", 1, 1), ("b", 2, 2), ("c", 2, 2)], "b", 3, 3),  # a's 1 and c's 2 stay
        ([("a", 1, 1), ("b", 1, 1), ("c", 2, 2)], "c", 3, 2),  # 2 stay: refused
        ([("a", 1, 1), ("b", 1, 1), ("c", 1, 1)], "c", 2, None),
    ],
)
def test_pool_removal_keeps_replication(
    shape: list[tuple[str, int, int]], removed: str, rf: int, kept: int | None
) -> None:
    obs = removing(observed(shape, rf=rf), removed)
    block = p.pool_removal_keeps_replication(obs, pool(obs, removed))
    if kept is None or kept >= rf:
        assert block is None
        return
    assert block is not None
    assert block.rule == "PoolRemovalKeepsReplication"
    assert f"removing pool {removed} would leave {kept} node(s) in datacenter dc1" in block.reason
    assert "ks (RF 3)" in block.reason


def test_pool_removal_refuses_the_last_rack_of_a_datacenter_a_keyspace_uses() -> None:
    obs = in_datacenter(observed([("a", 3, 3), ("z", 1, 1)]), "z", "dc2", dc1=3, dc2=1)
    block = p.pool_removal_keeps_replication(removing(obs, "z"), pool(obs, "z"))
    assert block is not None
    assert "would leave 0 node(s) in datacenter dc2" in block.reason
    assert "ks (RF 1)" in block.reason
    # A keyspace that does not replicate to dc2 does not hold the rack there.
    only_dc1 = in_datacenter(observed([("a", 3, 3), ("z", 1, 1)]), "z", "dc2", dc1=3)
    assert p.pool_removal_keeps_replication(removing(only_dc1, "z"), pool(only_dc1, "z")) is None


def test_pool_removal_counts_only_members_the_spec_keeps() -> None:
    """Pool b is also being scaled in from 2 to 1, and pool d is removed too:
    neither's leaving members count as staying."""
    obs = observed([("a", 1, 1), ("b", 1, 2), ("c", 0, 1), ("d", 0, 1)], rf=3)
    block = p.pool_removal_keeps_replication(removing(obs, "c", "d"), pool(obs, "c"))
    assert block is not None
    assert "would leave 2 node(s)" in block.reason


def test_remaining_nodes_do_not_count_the_members_of_a_removed_pool() -> None:
    """c's other member leaves as well: 3 x 5 GiB must fit in a and b alone."""
    obs = observed([("a", 1, 1), ("b", 1, 1), ("c", 2, 2)], load="5 GiB", size="10Gi")
    assert p.remaining_nodes_can_hold_the_data(obs, member(obs, "c-c-1")) is None
    gone = removing(obs, "c")
    block = p.remaining_nodes_can_hold_the_data(gone, member(gone, "c-c-1"))
    assert block is not None
    assert block.rule == "RemainingNodesCanHoldTheData"
    assert "remaining members' volumes hold 16.0 GiB" in block.reason


# --- the decisions --------------------------------------------------------


def test_removal_decommissions_highest_ordinal_first_then_deletes_the_statefulset() -> None:
    """c's two members leave one by one, each only after its pilot said
    Succeeded and every peer forgot it; then the StatefulSet goes."""
    obs = removing(three_racks(), "c")
    assert next_action(obs) == RequestDecommission("c", "c-c-1", G, pool_removal=True)

    running = with_outcome(obs, "c-c-1", G, "Running")
    wait = next_action(running)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.operation, wait.target) == ("DecommissionCompletes", REMOVE, "c")

    done = with_outcome(obs, "c-c-1", G, "Succeeded")
    wait = next_action(done)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.operation, wait.target) == ("PeersForgotMember", REMOVE, "c")
    assert next_action(forget(done, "c-c-1")) == ScaleIn("c", 1, "c-c-1", pool_removal=True)

    # The StatefulSet at 1: member 0 goes the same way (the ring forgot member 1).
    state = pool(obs, "c")
    one = forget(replace(obs, pools=(*obs.pools[:2], _shrunk(state, 1))), "c-c-1")
    assert next_action(one) == RequestDecommission("c", "c-c-0", G, pool_removal=True)
    assert next_action(replace(obs, pools=(*obs.pools[:2], _shrunk(state, 0)))) == DeletePool("c")


def _shrunk(state: Any, replicas: int) -> Any:
    members = tuple(m for m in state.members if m.ordinal < replicas)
    return replace(state, replicas=replicas, members=members)


def test_removal_that_would_break_replication_is_refused_before_any_decommission() -> None:
    obs = removing(three_racks(), "c")
    done = forget(replace(obs, pools=(*obs.pools[:2], _shrunk(pool(obs, "c"), 0))), "c-c-1")
    # c is gone: 3 members left for RF 3. Now removing b would leave 1.
    again = removing(replace(done, pools=done.pools[:2]), "b")
    wait = next_action(again)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.operation, wait.target) == ("PoolRemovalKeepsReplication", REMOVE, "b")
    assert "would leave 1 node(s) in datacenter dc1" in wait.reason
    assert not wait.progress  # a Warning event, not the normal course


def test_removal_waits_for_every_member_up_normal() -> None:
    obs = set_peer_status(removing(three_racks(), "c"), "c-a-0", "c-b-1", "DN")
    wait = next_action(obs)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.operation, wait.target) == ("AllMembersUpNormal", REMOVE, "c")


def test_removal_waits_when_the_others_cannot_hold_the_data() -> None:
    obs = removing(three_racks(load="6 GiB", size="10Gi"), "c")  # 30 GiB into 3 x 8 GiB
    wait = next_action(obs)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.target) == ("RemainingNodesCanHoldTheData", "c")


def test_a_member_of_a_removed_pool_that_never_joined_goes_without_a_decommission() -> None:
    obs = forget(map_member(removing(three_racks(), "c"), "c-c-1", pilot=None), "c-c-1")
    assert next_action(obs) == ScaleIn("c", 1, "c-c-1", joined=False, pool_removal=True)


def test_a_refused_decommission_of_a_removed_pool_waits_for_a_new_spec() -> None:
    message = "DecommissionKeepsReplicationFactor: removing this node would leave 2"
    obs = with_outcome(removing(three_racks(), "c"), "c-c-1", G, "Refused", message)
    wait = next_action(obs)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.operation, wait.target) == (
        "DecommissionKeepsReplicationFactor",
        REMOVE,
        "c",
    )


def test_removal_comes_after_scale_out_and_before_other_scale_ins() -> None:
    # A rack replaced by another: the new one grows first.
    grow = removing(observed([("a", 1, 1), ("b", 2, 2), ("c", 2, 2), ("d", 1, 0)], rf=3), "c")
    assert next_action(grow) == ScaleOut("d", 1)
    # A removal and a scale-in of another pool: the removal first.
    both = removing(observed([("a", 2, 3), ("b", 2, 2), ("c", 2, 2)]), "c")
    assert next_action(both) == RequestDecommission("c", "c-c-1", G, pool_removal=True)


def test_a_pool_put_back_in_the_spec_is_no_longer_removed() -> None:
    """Taking the pool out and putting it back before anything left: settled."""
    assert next_action(three_racks()) is None


# --- adding a pool to a running cluster ---------------------------------


def test_a_pool_added_to_a_running_cluster_grows_through_the_scale_out_gates() -> None:
    running = observed([("a", 3, 3), ("b", 2, 0)], rf=3)
    absent = replace(running, pools=(running.pools[0], replace(running.pools[1], exists=False)))
    assert next_action(absent) == CreatePool("b")
    assert next_action(running) == ScaleOut("b", 1)
    grown = observed([("a", 3, 3), ("b", 2, 1)], rf=3)
    joining = set_peer_status(grown, "c-a-0", "c-b-0", "UJ")
    wait = next_action(joining)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.operation, wait.target) in {
        ("AllMembersUpNormal", "ScaleOut", "b"),
        ("OneBootstrapAtATime", "ScaleOut", "b"),
    }
    down = set_peer_status(grown, "c-a-1", "c-a-2", "DN")
    wait = next_action(down)
    assert isinstance(wait, Wait)
    assert (wait.rule, wait.target) == ("AllMembersUpNormal", "b")
    assert next_action(grown) == ScaleOut("b", 2)


# --- status ---------------------------------------------------------------


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_status_shows_the_removal_as_one_operation_on_the_pool() -> None:
    obs = removing(three_racks(), "c")
    first = build_status(obs, next_action(obs), None, T0)
    assert first.operation is not None
    assert (first.operation.type, first.operation.target) == (REMOVE, "c")
    assert [q.name for q in first.node_pools] == ["a", "b", "c"]
    progressing = next(c for c in first.conditions if c.type == "Progressing")
    assert progressing.reason == REMOVE
    # Its next steps are the same operation: startedAt holds.
    later = with_outcome(obs, "c-c-1", G, "Running")
    second = build_status(later, next_action(later), first, NOW)
    assert second.operation is not None
    assert second.operation.started_at == first.operation.started_at
    assert second.operation.blocked_by is not None
    assert second.operation.blocked_by.rule == "DecommissionCompletes"
    gone = build_status(obs, DeletePool("c"), first, NOW)
    assert gone.operation is not None
    assert (gone.operation.type, gone.operation.target) == (REMOVE, "c")


def test_status_of_a_refused_removal_names_its_rule() -> None:
    obs = removing(observed([("a", 1, 1), ("b", 1, 1), ("c", 2, 2)], rf=3), "c")
    status = build_status(obs, next_action(obs), None, T0)
    assert status.operation is not None
    assert status.operation.blocked_by is not None
    assert status.operation.blocked_by.rule == "PoolRemovalKeepsReplication"
    assert (status.operation.type, status.operation.target) == (REMOVE, "c")


# --- observing a removed pool ---------------------------------------------


def _cluster(pools: list[dict[str, Any]]) -> CassandraCluster:
    return CassandraCluster.model_validate(
        {
            "metadata": {"name": "demo", "namespace": "ns", "uid": "u", "generation": 3},
            "spec": {"version": "5.0.6", "nodePools": pools},
        }
    )


RACK3 = {
    "name": "rack3",
    "replicas": 2,
    "datacenter": "dc2",
    "rack": "r3",
    "persistence": {"size": "5Gi", "storageClassName": "fast"},
}


BEFORE = _cluster([{"name": "rack1", "replicas": 1}, RACK3])


def _rack3_removed() -> tuple[CassandraCluster, dict[str, Any]]:
    """The cluster after rack3 left its spec, and the StatefulSets built before."""
    sets = {
        f"demo-{q.name}": build_statefulset(BEFORE, q, replicas=q.replicas)
        for q in BEFORE.spec.node_pools
    }
    return _cluster([{"name": "rack1", "replicas": 1}]), sets


def test_pool_of_rebuilds_the_pool_a_statefulset_was_built_for() -> None:
    sts = build_statefulset(BEFORE, BEFORE.spec.node_pools[1], replicas=2)
    pool = pool_of(sts)
    assert pool == CassandraNodePool.model_validate({**RACK3, "replicas": 0})
    assert pool_of({"metadata": {"labels": {}}, "spec": {}}) is None


def test_removed_pools_are_the_statefulsets_whose_pool_left_the_spec() -> None:
    after, sets = _rack3_removed()
    (found,) = removed_pools("demo", after.spec.node_pools, sets)
    assert found[0].name == "rack3"
    assert (
        found[1]
        == sets["demo-rack3"]["spec"]["template"]["metadata"]["annotations"][REVISION_ANNOTATION]
    )
    assert removed_pools("demo", BEFORE.spec.node_pools, sets) == []
    deleting = {**sets["demo-rack3"], "metadata": {**sets["demo-rack3"]["metadata"]}}
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert removed_pools("demo", after.spec.node_pools, {"demo-rack3": deleting}) == []
    # Another cluster's StatefulSet that happens to carry the label is not ours.
    assert removed_pools("other", after.spec.node_pools, sets) == []


def test_observe_keeps_the_members_of_a_removed_pool() -> None:
    after, sets = _rack3_removed()
    raw = after.model_dump(by_alias=True, exclude_none=True, mode="json")
    world = World(raw=raw, cluster=after, statefulsets=sets, pilots={})
    obs = observe(world, NOW)
    assert [(s.name, s.removed, s.replicas) for s in obs.pools] == [
        ("rack1", False, 1),
        ("rack3", True, 2),
    ]
    rack3 = pool(obs, "rack3")
    assert [m.name for m in rack3.members] == ["demo-rack3-0", "demo-rack3-1"]
    assert {m.datacenter for m in rack3.members} == {"dc2"}
    assert rack3.pool.replicas == 0
    assert (
        rack3.revision
        == sets["demo-rack3"]["spec"]["template"]["metadata"]["annotations"][REVISION_ANNOTATION]
    )
