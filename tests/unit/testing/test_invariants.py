"""The safety invariants the chaos suite checks: each rule fails when it is
broken and stays quiet on the operator's normal course."""

from __future__ import annotations

import pytest

from navigator.testing.invariants import (
    DECOMMISSION_NOT_CHOSEN,
    DISRUPTION_WHILE_DOWN,
    REPLICAS_LOWERED,
    Invariants,
    feed,
    split_member,
)

pytestmark = pytest.mark.unit

STS = "demo-rack1"


def joined(inv: Invariants, rev: int, member: str, *outcomes: tuple[str, str, str]) -> None:
    inv.pilot(rev, member, [], list(outcomes), "NORMAL", at=0.0)


def three(inv: Invariants) -> None:
    inv.cluster_spec(1, {"rack1": 3})
    inv.statefulset(2, STS, 3, at=0.0)
    for k in range(3):
        joined(inv, 3 + k, f"{STS}-{k}")
        inv.pod(f"{STS}-{k}", ready=True, deleting=False, at=0.0)


def rules(inv: Invariants) -> list[str]:
    return [v.rule for v in inv.flush(1e9, all=True)]


def test_member_names_split_into_statefulset_and_ordinal() -> None:
    assert split_member("demo-rack1-2") == ("demo-rack1", 2)
    assert split_member("demo") is None


def test_a_verified_scale_in_breaks_nothing() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(10, {"rack1": 2})
    inv.pilot(11, f"{STS}-2", [("d1", "Decommission")], [], "NORMAL", at=1.0)
    inv.pilot(
        12,
        f"{STS}-2",
        [("d1", "Decommission")],
        [("d1", "Decommission", "Succeeded")],
        "DECOMMISSIONED",
        at=2.0,
    )
    inv.statefulset(13, STS, 2, at=3.0)
    inv.pod(f"{STS}-2", ready=False, deleting=True, at=3.1)  # the StatefulSet removes it
    assert rules(inv) == []


def test_replicas_lowered_before_the_decommission_succeeded_is_caught() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(10, {"rack1": 2})
    inv.pilot(
        11,
        f"{STS}-2",
        [("d1", "Decommission")],
        [("d1", "Decommission", "Running")],
        "LEAVING",
        at=1.0,
    )
    inv.statefulset(12, STS, 2, at=2.0)
    # The Succeeded arrives later on its stream, at a later revision: still too late.
    inv.pilot(
        13,
        f"{STS}-2",
        [("d1", "Decommission")],
        [("d1", "Decommission", "Succeeded")],
        "DECOMMISSIONED",
        at=2.1,
    )
    assert rules(inv) == [REPLICAS_LOWERED]


def test_a_succeeded_decommission_delivered_late_by_its_stream_counts_by_revision() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(10, {"rack1": 2})
    inv.pilot(11, f"{STS}-2", [("d1", "Decommission")], [], "NORMAL", at=1.0)
    inv.statefulset(13, STS, 2, at=2.0)  # seen first
    inv.pilot(
        12,
        f"{STS}-2",
        [("d1", "Decommission")],
        [("d1", "Decommission", "Succeeded")],
        "DECOMMISSIONED",
        at=2.2,
    )
    assert rules(inv) == []


def test_a_member_that_never_joined_may_be_removed_without_a_decommission() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.statefulset(10, STS, 4, at=1.0)
    inv.pilot(11, f"{STS}-3", [], [], "JOINING", at=1.0)
    inv.cluster_spec(12, {"rack1": 3})
    inv.statefulset(13, STS, 3, at=2.0)
    assert rules(inv) == []


def test_a_reused_member_name_needs_a_new_decommission() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(9, {"rack1": 2})
    inv.pilot(
        10,
        f"{STS}-2",
        [("d1", "Decommission")],
        [("d1", "Decommission", "Succeeded")],
        "DECOMMISSIONED",
        at=1.0,
    )
    inv.statefulset(11, STS, 2, at=1.0)
    inv.statefulset(12, STS, 3, at=2.0)  # scaled out again: a new incarnation
    joined(inv, 13, f"{STS}-2")
    inv.statefulset(14, STS, 2, at=3.0)
    assert rules(inv) == [REPLICAS_LOWERED]


def test_a_decommission_of_a_member_other_than_the_last_is_caught() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(10, {"rack1": 2})
    inv.pilot(11, f"{STS}-0", [("d1", "Decommission")], [], "NORMAL", at=1.0)
    assert rules(inv) == [DECOMMISSION_NOT_CHOSEN]


def test_a_decommission_the_spec_did_not_ask_for_is_caught() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.pilot(10, f"{STS}-2", [("d1", "Decommission")], [], "NORMAL", at=1.0)
    assert rules(inv) == [DECOMMISSION_NOT_CHOSEN]


def test_a_removed_pool_may_decommission_its_last_member() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(10, {})
    inv.pilot(11, f"{STS}-2", [("d1", "Decommission")], [], "NORMAL", at=1.0)
    assert rules(inv) == []


def test_a_rolling_restart_one_member_at_a_time_breaks_nothing() -> None:
    inv = Invariants("demo")
    three(inv)
    t = 10.0
    for k in range(3):
        member = f"{STS}-{k}"
        inv.pod(member, ready=False, deleting=True, at=t)
        inv.pod(member, ready=None, deleting=False, at=t + 1)
        inv.pod(member, ready=False, deleting=False, at=t + 2)
        inv.pod(member, ready=True, deleting=False, at=t + 30)
        t += 31
    assert rules(inv) == []


def test_a_restart_while_another_member_is_down_is_caught() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.pod(f"{STS}-0", ready=False, deleting=False, at=10.0)  # a fault: down
    inv.pod(f"{STS}-1", ready=False, deleting=True, at=20.0)  # the operator restarts another
    assert rules(inv) == [DISRUPTION_WHILE_DOWN]


def test_a_member_that_went_down_within_the_grace_does_not_count() -> None:
    inv = Invariants("demo", grace=5.0)
    three(inv)
    inv.pod(f"{STS}-0", ready=False, deleting=False, at=10.0)
    inv.pod(f"{STS}-1", ready=False, deleting=True, at=12.0)
    assert rules(inv) == []


def test_a_pod_the_test_deleted_is_not_the_operators_disruption() -> None:
    inv = Invariants("demo", excused=lambda member, _at: member == f"{STS}-1")
    three(inv)
    inv.pod(f"{STS}-0", ready=False, deleting=False, at=10.0)
    inv.pod(f"{STS}-1", ready=False, deleting=True, at=20.0)
    assert rules(inv) == []


def test_a_decommission_while_another_member_is_down_is_caught() -> None:
    inv = Invariants("demo")
    three(inv)
    inv.cluster_spec(10, {"rack1": 2})
    inv.pod(f"{STS}-0", ready=False, deleting=False, at=10.0)
    inv.pilot(11, f"{STS}-2", [("d1", "Decommission")], [], "NORMAL", at=30.0)
    assert rules(inv) == [DISRUPTION_WHILE_DOWN]


def test_watch_events_of_other_clusters_are_ignored_and_ours_are_fed() -> None:
    inv = Invariants("demo")
    sts = {
        "metadata": {
            "name": STS,
            "resourceVersion": "5",
            "labels": {"navigator.dev/cluster": "demo"},
        },
        "spec": {"replicas": 3},
    }
    other = {
        "metadata": {
            "name": "x-rack1",
            "resourceVersion": "6",
            "labels": {"navigator.dev/cluster": "x"},
        },
        "spec": {"replicas": 3},
    }
    feed(inv, "StatefulSet", "ADDED", sts, 0.0)
    feed(inv, "StatefulSet", "ADDED", other, 0.0)
    pod = {
        "metadata": {
            "name": f"{STS}-1",
            "labels": {"navigator.dev/cluster": "demo"},
            "deletionTimestamp": "x",
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    down = {
        "metadata": {"name": f"{STS}-0", "labels": {"navigator.dev/cluster": "demo"}},
        "status": {},
    }
    feed(inv, "Pod", "MODIFIED", down, 0.0)
    feed(inv, "Pod", "MODIFIED", pod, 10.0)
    assert rules(inv) == [DISRUPTION_WHILE_DOWN]
    assert inv.counts[DISRUPTION_WHILE_DOWN] == 1
