"""The status builder: fields, conditions and stable times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsim import forget, map_member, observed, set_peer_status

from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.decide import Paused, ScaleOut, Wait, next_action
from navigator.operator.cassandra.observed import FACTS_FRESH_FOR_S
from navigator.operator.cassandra.reconcile import recorded_host_ids
from navigator.operator.cassandra.status import build_status, needs_write, status_body

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def conds(status):  # type: ignore[no-untyped-def]
    return {c.type: c for c in status.conditions}


def test_settled_cluster_is_ready() -> None:
    obs = observed([("a", 3, 3)])
    status = build_status(obs, next_action(obs), None, T0)
    assert status.ready_members == "3/3"
    assert status.phase == "Ready"
    assert status.observed_generation == 1
    assert status.operation is None
    assert [p.name for p in status.node_pools] == ["a"]
    assert status.node_pools[0].ready_replicas == 3
    assert status.members[0].host_id == "id-c-a-0"
    assert status.members[0].state == "UN"
    c = conds(status)
    assert (c["Available"].status, c["Progressing"].status) == ("True", "False")
    assert (c["Degraded"].status, c["Paused"].status) == ("False", "False")


def test_scale_out_is_progressing_with_an_operation() -> None:
    obs = observed([("a", 3, 2)])
    status = build_status(obs, ScaleOut("a", 3), None, T0)
    assert status.phase == "Progressing"
    assert status.ready_members == "2/3"
    assert status.operation is not None
    assert (status.operation.type, status.operation.target) == ("ScaleOut", "a")
    assert conds(status)["Progressing"].reason == "ScaleOut"


def test_blocked_operation_names_the_rule() -> None:
    obs = set_peer_status(observed([("a", 3, 2)]), "c-a-0", "c-a-1", "DN")
    status = build_status(obs, next_action(obs), None, T0)
    assert status.operation is not None
    assert status.operation.blocked_by is not None
    assert status.operation.blocked_by.rule == "AllMembersUpNormal"
    assert "blocked by AllMembersUpNormal" in conds(status)["Progressing"].message
    assert status.phase == "Degraded"
    assert conds(status)["Degraded"].reason == "MembersDown"


def test_paused() -> None:
    obs = observed([("a", 3, 2)], paused=True)
    status = build_status(obs, Paused("x"), None, T0)
    assert status.phase == "Paused"
    assert conds(status)["Paused"].status == "True"
    assert conds(status)["Progressing"].reason == "Paused"


def test_times_hold_while_nothing_changes() -> None:
    obs = observed([("a", 3, 2)])
    first = build_status(obs, next_action(obs), None, T0)
    again = build_status(obs, next_action(obs), first, T1)
    assert status_body(first) == status_body(again)
    assert not needs_write(status_body(first), again)
    assert needs_write(None, again)


def test_transition_moves_only_the_changed_condition() -> None:
    obs = observed([("a", 3, 2)])
    first = build_status(obs, next_action(obs), None, T0)
    later = build_status(obs, Wait("NotPaused", "x"), first, T1)
    settled = build_status(observed([("a", 3, 3)]), None, later, T1)
    assert conds(settled)["Progressing"].last_transition_time == "2026-01-01T00:05:00Z"
    assert conds(settled)["Available"].last_transition_time == "2026-01-01T00:00:00Z"
    assert needs_write(status_body(later), settled)


def test_operation_start_survives_while_it_lasts() -> None:
    obs = observed([("a", 3, 2)])
    first = build_status(obs, ScaleOut("a", 3), None, T0)
    later = build_status(obs, Wait("OneBootstrapAtATime", "j", "ScaleOut", "a"), first, T1)
    assert later.operation is not None
    assert later.operation.started_at == "2026-01-01T00:00:00Z"


def _joining(obs, name):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from opsim import map_member

    member = next(m for m in obs.members() if m.name == name)
    facts = member.pilot.facts.model_copy(update={"operation_mode": "JOINING"})
    pilot = member.pilot.model_copy(update={"facts": facts, "ready": False})
    obs = map_member(obs, name, pilot=pilot)
    pools = tuple(replace(s, ready_replicas=s.ready_replicas - 1) for s in obs.pools)
    return replace(obs, pools=pools)


def test_a_joining_member_is_progress_not_damage() -> None:
    """After the last scale-out the spec is met but the new member still
    streams: the cluster is Progressing (not Degraded) and the member is UJ."""
    obs = _joining(observed([("a", 3, 3)]), "c-a-2")
    status = build_status(obs, next_action(obs), None, T0)
    c = conds(status)
    assert (c["Progressing"].status, c["Progressing"].reason) == ("True", "MembersStarting")
    assert "c-a-2" in c["Progressing"].message
    assert c["Degraded"].status == "False"
    assert status.phase == "Progressing"
    assert {m.name: m.state for m in status.members}["c-a-2"] == "UJ"


def test_an_unready_member_that_is_not_starting_is_degraded() -> None:
    obs = observed([("a", 3, 3)])
    from dataclasses import replace

    obs = replace(obs, pools=tuple(replace(s, ready_replicas=2) for s in obs.pools))
    status = build_status(obs, next_action(obs), None, T0)
    assert status.phase == "Degraded"
    assert conds(status)["Progressing"].status == "False"


def test_a_member_whose_pod_cannot_run_is_failing_with_the_reason() -> None:
    """A never-starting member (crash loop, unschedulable Pod) is not
    'starting': the cluster is Degraded and says which member and why."""
    from dataclasses import replace

    obs = map_member(
        forget(observed([("a", 3, 3)]), "c-a-2"),
        "c-a-2",
        pilot=None,
        problem="cassandra CrashLoopBackOff (exit code 1, 5 restarts)",
    )
    obs = replace(obs, pools=tuple(replace(s, ready_replicas=2) for s in obs.pools))
    status = build_status(obs, next_action(obs), None, T0)
    c = conds(status)
    assert status.phase == "Degraded"
    assert (c["Degraded"].status, c["Degraded"].reason) == ("True", "MembersFailing")
    assert c["Degraded"].message == "c-a-2: cassandra CrashLoopBackOff (exit code 1, 5 restarts)"
    assert c["Progressing"].reason != "MembersStarting"


def test_a_member_whose_pilot_went_quiet_is_not_shown_up_normal() -> None:
    """Issue 13: a hung pilot's last "UN" must not stay forever. Facts older
    than FACTS_FRESH_FOR_S are stale: the member does not serve, nothing that
    needs every member Up/Normal proceeds, and status shows it as its peers
    see it (here they see it down), never from its own old report."""
    fresh = map_member(observed([("a", 3, 3)]), "c-a-1", facts_age_s=FACTS_FRESH_FOR_S - 1)
    assert p.all_members_up_normal(fresh) is None
    quiet = map_member(fresh, "c-a-1", facts_age_s=FACTS_FRESH_FOR_S + 30)
    quiet = set_peer_status(quiet, "c-a-0", "c-a-1", "DN")
    quiet = set_peer_status(quiet, "c-a-2", "c-a-1", "DN")
    block = p.all_members_up_normal(quiet)
    assert block is not None
    assert "c-a-1 is not serving: its pilot last observed the database 120 s ago" in block.reason
    status = build_status(quiet, next_action(quiet), None, T0)
    shown = {m.name: m.state for m in status.members}
    assert shown["c-a-1"] == "DN"
    assert status.phase == "Degraded"  # a quiet pilot is not a member starting
    assert conds(status)["Degraded"].status == "True"


def test_host_ids_recorded_in_the_stored_status() -> None:
    raw = {"status": {"members": [{"name": "a", "hostID": "h1"}, {"name": "b"}]}}
    assert recorded_host_ids(raw) == {"a": "h1"}
    assert recorded_host_ids({}) == {}
    # A status that is not a valid CassandraClusterStatus records nothing:
    # the host ID is then unknown, and the rules that need it fail closed.
    assert recorded_host_ids({"status": {"members": ["junk"]}}) == {}


def test_a_member_merely_down_is_reported_with_how_long_it_has_been_down() -> None:
    down = map_member(observed([("a", 3, 3)]), "c-a-1", facts_age_s=FACTS_FRESH_FOR_S + 30)
    down = set_peer_status(down, "c-a-0", "c-a-1", "DN")
    down = set_peer_status(down, "c-a-2", "c-a-1", "DN")
    first = build_status(down, next_action(down), None, T0)
    since = {m.name: m.down_since for m in first.members}
    assert since == {"c-a-0": "", "c-a-1": "2026-01-01T00:00:00Z", "c-a-2": ""}
    later = T0 + timedelta(minutes=75)
    again = build_status(down, next_action(down), first, later)
    assert {m.name: m.down_since for m in again.members} == since  # the first sighting stays
    assert "c-a-1 (down 1 h 15 min)" in conds(again)["Degraded"].message
    up = build_status(observed([("a", 3, 3)]), None, again, later)
    assert all(not m.down_since for m in up.members)
