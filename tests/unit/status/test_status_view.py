"""The status view model: members joined from the cluster status and the
Pilots, decommissions made visible, lenient reading of odd objects."""

from __future__ import annotations

from typing import Any

import pytest
from status_fixtures import (
    HOSTS,
    INTENT,
    NEW_REVISION,
    NS,
    OLD_REVISION,
    cluster,
    member,
    pilot,
    rolling_upgrade,
    scale_in_in_progress,
    scale_in_refused,
    with_down_member,
)

from navigator.status.view import ClusterView, MemberView, RolloutView, cluster_view, pilots_of

pytestmark = pytest.mark.unit


def by_name(view: ClusterView) -> dict[str, MemberView]:
    return {m.name: m for m in view.members}


def test_scale_in_shows_the_leaving_member_and_what_the_operation_waits_on() -> None:
    view = cluster_view(*scale_in_in_progress())
    assert (view.name, view.namespace, view.version) == ("demo", NS, "5.0.6")
    assert (view.phase, view.ready_members, view.desired_members) == ("Progressing", "4/3", 3)
    assert [m.name for m in view.members] == [f"demo-rack1-{i}" for i in range(4)]
    op = view.operation
    assert op is not None
    assert (op.type, op.target, op.started_at) == (
        "ScaleIn",
        "demo-rack1-3",
        "2026-01-01T00:00:00Z",
    )
    assert op.blocked_by is not None
    assert op.blocked_by.rule == "DecommissionCompletes"
    assert "demo-rack1-3" in op.blocked_by.reason
    pool = view.pools[0]
    assert (pool.name, pool.datacenter, pool.rack) == ("rack1", "dc1", "rack1")
    assert (pool.desired, pool.replicas, pool.ready, pool.updated) == (3, 4, 4, 4)


def test_the_member_being_decommissioned_is_marked_leaving() -> None:
    leaving = by_name(cluster_view(*scale_in_in_progress()))["demo-rack1-3"]
    # The operator's last status said UN; the node's own LEAVING mode is fresher.
    assert leaving.state == "UL"
    assert leaving.mode == "LEAVING"
    assert leaving.activity == "decommissioning"
    assert leaving.leaving
    assert leaving.decommission is not None
    assert (leaving.decommission.intent, leaving.decommission.phase) == (
        "decommission-g2",
        "Running",
    )
    assert leaving.decommission.attempts == 1
    assert leaving.ready is False


def test_other_members_have_state_load_and_placement() -> None:
    members = by_name(cluster_view(*scale_in_in_progress()))
    first = members["demo-rack1-0"]
    assert (first.state, first.mode, first.load) == ("UN", "NORMAL", "1.21 MiB")
    assert (first.datacenter, first.rack, first.pool) == ("dc1", "rack1", "rack1")
    assert (first.host_id, first.version, first.ready) == (HOSTS[0], "5.0.6", True)
    assert not first.leaving
    assert first.activity == ""
    assert first.decommission is None


def test_a_refused_decommission_is_not_leaving_and_names_the_rule() -> None:
    view = cluster_view(*scale_in_refused())
    target = by_name(view)["demo-rack1-3"]
    assert target.state == "UN"
    assert target.activity == "decommission refused"
    assert not target.leaving
    assert target.decommission is not None
    assert target.decommission.message.startswith("DecommissionKeepsReplicationFactor")
    assert view.operation is not None
    assert view.operation.blocked_by is not None
    assert view.operation.blocked_by.rule == "DecommissionKeepsReplicationFactor"


def test_an_intent_the_pilot_has_not_picked_up_is_pending() -> None:
    obj, pilots = scale_in_in_progress()
    pilots[3] = pilot(3, intents=[INTENT])
    target = by_name(cluster_view(obj, pilots))["demo-rack1-3"]
    assert target.decommission is not None
    assert target.decommission.phase == "Pending"
    assert target.activity == "decommissioning"
    assert target.state == "UN"  # not leaving the ring yet: no pretending


def test_the_operation_target_alone_marks_a_member() -> None:
    obj, pilots = scale_in_in_progress()
    pilots[3] = pilot(3)
    target = by_name(cluster_view(obj, pilots))["demo-rack1-3"]
    assert target.decommission is None
    assert target.activity == "decommissioning"


def test_a_succeeded_decommission_reads_decommissioned() -> None:
    obj, pilots = scale_in_in_progress()
    done = {"id": "decommission-g2", "action": "Decommission", "phase": "Succeeded", "attempts": 1}
    pilots[3] = pilot(3, mode="DECOMMISSIONED", intents=[INTENT], outcomes=[done])
    target = by_name(cluster_view(obj, pilots))["demo-rack1-3"]
    assert target.activity == "decommissioned"
    assert target.leaving


def test_a_down_member_is_seen_through_its_peers() -> None:
    view = cluster_view(*with_down_member())
    down = by_name(view)["demo-rack1-2"]
    assert down.state == "DN"
    assert down.load == "1.24 MiB"  # as its peers last saw it
    assert (down.mode, down.ready, down.last_error) == ("", False, "cassandra exited 137")
    assert (down.datacenter, down.rack) == ("dc1", "rack1")


def test_a_member_only_a_pilot_knows_is_shown() -> None:
    obj = cluster(None, [member(0)])
    view = cluster_view(obj, [pilot(1), pilot(0)])
    assert [m.name for m in view.members] == ["demo-rack1-0", "demo-rack1-1"]
    assert by_name(view)["demo-rack1-1"].state == "UN"


def test_members_sort_by_ordinal_and_pools_by_spec_order() -> None:
    obj = cluster(None, [])
    obj["spec"]["nodePools"] = [{"name": "b", "replicas": 11}, {"name": "a", "replicas": 1}]
    names = ["demo-a-0", "demo-b-10", "demo-b-9", "demo-b-0"]
    pilots = [{"metadata": {"name": n, "namespace": NS}} for n in names]
    view = cluster_view(obj, pilots)
    assert [m.name for m in view.members] == ["demo-b-0", "demo-b-9", "demo-b-10", "demo-a-0"]
    assert [m.pool for m in view.members] == ["b", "b", "b", "a"]
    assert all(m.state == "?" for m in view.members)


def test_a_new_cluster_without_status() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "fresh", "namespace": NS, "generation": 1},
        "spec": {"version": "5.0.6", "nodePools": [{"name": "r", "replicas": 3}]},
    }
    view = cluster_view(obj, [])
    assert (view.phase, view.ready_members, view.operation, view.members) == ("", "", None, ())
    assert (view.pools[0].desired, view.pools[0].replicas, view.pools[0].rack) == (3, 0, "r")
    assert view.observed_generation is None


def test_a_pool_removed_from_the_spec_still_shows() -> None:
    obj = cluster(None, [])
    obj["status"]["nodePools"].append({"name": "old", "replicas": 1})
    assert [(p.name, p.desired, p.replicas) for p in cluster_view(obj, []).pools] == [
        ("rack1", 3, 4),
        ("old", 0, 1),
    ]


def test_odd_objects_do_not_break_the_view() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "x", "generation": "7"},
        "spec": {"nodePools": "nope", "paused": "yes"},
        "status": {"members": [{"name": "x-r-0", "state": 3}, "junk"], "operation": 5},
    }
    view = cluster_view(obj, [{"metadata": None, "status": {"facts": {"peers": [None]}}}])
    assert view.generation is None
    assert not view.paused
    assert view.operation is None
    assert "x-r-0" in [m.name for m in view.members]


def test_pilots_of_picks_the_clusters_pilots() -> None:
    obj, pilots = scale_in_in_progress()
    other = pilot(0)
    other["metadata"]["labels"]["navigator.dev/cluster"] = "other"
    elsewhere = pilot(1)
    elsewhere["metadata"]["namespace"] = "dev"
    unlabelled = pilot(2)
    del unlabelled["metadata"]["labels"]
    picked = pilots_of(obj, [*pilots, other, elsewhere, unlabelled])
    assert [p["metadata"]["name"] for p in picked] == [
        *(p["metadata"]["name"] for p in pilots),
        "demo-rack1-2",
    ]


def test_nameless_entries_are_skipped() -> None:
    obj = cluster(None, [{"pool": "rack1"}, member(0)])
    view = cluster_view(obj, [{"metadata": {}}, pilot(0)])
    assert [m.name for m in view.members] == ["demo-rack1-0"]


def test_a_rollout_in_progress() -> None:
    view = cluster_view(*rolling_upgrade())
    assert view.rollout == RolloutView(
        type="Upgrade", updated=1, members=3, current="demo-rack1-1", stalled=False
    )
    assert view.pools[0].revision == NEW_REVISION
    members = by_name(view)
    assert [(m.revision, m.updated) for m in view.members] == [
        (OLD_REVISION, False),
        (NEW_REVISION, True),
        (NEW_REVISION, True),
    ]
    assert members["demo-rack1-1"].activity == "restarting"
    assert members["demo-rack1-1"].rolling
    assert not members["demo-rack1-1"].leaving
    assert (members["demo-rack1-0"].activity, members["demo-rack1-0"].version) == ("", "5.0.5")


def test_a_stalled_rollout() -> None:
    view = cluster_view(*rolling_upgrade(stalled=True))
    assert view.rollout is not None
    assert view.rollout.stalled
    assert by_name(view)["demo-rack1-1"].activity == "restart stalled"


@pytest.mark.parametrize(
    ("blocked_by", "expected"),
    [
        (None, "restarting"),  # just deleted its pod
        ({"rule": "RestartedMemberServes", "reason": "r"}, "restarting"),
        ({"rule": "RolloutStalled", "reason": "r"}, "restart stalled"),
        ({"rule": "AllMembersUpNormal", "reason": "r"}, "next to restart"),
    ],
)
def test_where_the_rollouts_member_stands(blocked_by: Any, expected: str) -> None:
    obj, pilots = rolling_upgrade()
    obj["status"]["operation"] = {"type": "RollingRestart", "target": "demo-rack1-0"}
    if blocked_by is not None:
        obj["status"]["operation"]["blockedBy"] = blocked_by
    members = by_name(cluster_view(obj, pilots))
    assert members["demo-rack1-0"].activity == expected
    assert members["demo-rack1-1"].activity == ""


def test_revision_from_the_pilot_and_updated_from_the_pools_revision() -> None:
    """A status without member revisions (an older operator, or a member the
    status does not list yet): the Pilot's revision, against the pool's."""
    obj, pilots = rolling_upgrade()
    for m in obj["status"]["members"]:
        del m["revision"], m["updated"]
    members = by_name(cluster_view(obj, pilots))
    assert (members["demo-rack1-0"].revision, members["demo-rack1-0"].updated) == (
        OLD_REVISION,
        False,
    )
    assert (members["demo-rack1-2"].revision, members["demo-rack1-2"].updated) == (
        NEW_REVISION,
        True,
    )
    del obj["status"]["nodePools"][0]["revision"]
    assert by_name(cluster_view(obj, pilots))["demo-rack1-2"].updated is None


def test_updated_is_unknown_without_a_pool_revision() -> None:
    """The API server defaults `updated` to false in a status written by an
    operator without rollouts; with no pool revision it says nothing."""
    obj, pilots = scale_in_in_progress()
    for m in obj["status"]["members"]:
        m.update(revision="", updated=False)
    assert {m.updated for m in cluster_view(obj, pilots).members} == {None}


def test_no_rollout_no_revisions() -> None:
    view = cluster_view(*scale_in_in_progress())
    assert view.rollout is None
    assert {(m.revision, m.updated) for m in view.members} == {("", None)}


def test_odd_rollout_and_revision_fields_are_left_empty() -> None:
    obj, pilots = rolling_upgrade()
    obj["status"]["rollout"] = {
        "type": 3,
        "updatedMembers": "1",
        "members": 3,
        "currentMember": None,
        "stalled": "yes",
        "fromTheFuture": True,
    }
    obj["status"]["members"][0].update(revision=7, updated="no")
    pilots[0]["status"]["revision"] = ["x"]
    view = cluster_view(obj, pilots)
    assert view.rollout == RolloutView(type="", updated=0, members=3, current="", stalled=False)
    assert (view.members[0].revision, view.members[0].updated) == ("", None)
    obj["status"]["rollout"] = "junk"
    assert cluster_view(obj, pilots).rollout is None
