"""Per-replica accounting and the verdict: missing copies, lost rows, unverifiable replicas,
and the rules that fail a run (nothing acked, levels too weak for the RF, wrong replication)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from navigator.checker.consistency import (
    EACH_REPLICA,
    Replication,
    durability_problem,
    replicas_required,
)
from navigator.checker.report import (
    VERDICT_RULES,
    Attempt,
    Outcome,
    ReadBack,
    ReplicaRead,
    Report,
    RunInfo,
    build_report,
    merge_replica_reads,
)

pytestmark = pytest.mark.unit

INFO = RunInfo(
    writer_id="w",
    keyspace="ks",
    table="t",
    write_consistency="QUORUM",
    started_at="2026-01-01T00:00:00+00:00",
    duration_s=10.0,
    replication="dc1:3",
    replication_asked="dc1:3",
    replication_factor=3,
)
ROWS = frozenset(range(10))


def acked(*seqs: int) -> list[Attempt]:
    return [Attempt(seq, 0.0, 0.01, Outcome.ACKED) for seq in seqs]


def replica(
    address: str,
    found: frozenset[int] = ROWS,
    *,
    owned: frozenset[int] = ROWS,
    unreadable: frozenset[int] = frozenset(),
    error: str | None = None,
) -> ReplicaRead:
    return ReplicaRead(address, f"id-{address}", owned, found, unreadable=unreadable, error=error)


def verify(*replicas: ReplicaRead, rows: frozenset[int] = ROWS, info: RunInfo = INFO) -> Report:
    return build_report(info, acked(*rows), merge_replica_reads(replicas, rows))


def rules(report: Report) -> list[str]:
    return [failure.rule for failure in report.failures]


# --- per replica ----------------------------------------------------------------


def test_every_copy_on_every_replica_is_ok() -> None:
    report = verify(replica("a"), replica("b"), replica("c"))
    assert report.ok, report.summary()
    assert report.replicas_checked == 3
    assert report.missing_by_replica == {"a": 0, "b": 0, "c": 0}
    assert report.replica_host_ids == {"a": "id-a", "b": "id-b", "c": "id-c"}
    assert report.read_consistency == EACH_REPLICA


def test_copies_missing_on_one_replica_fail_the_run_but_are_not_lost() -> None:
    report = verify(replica("a"), replica("b", frozenset({0, 1, 2})), replica("c"))
    assert report.lost == 0
    assert report.found == len(ROWS)
    assert report.missing_by_replica == {"a": 0, "b": 7, "c": 0}
    assert report.missing_on_replicas == 7
    assert report.missing_sample_by_replica == {"b": (3, 4, 5, 6, 7, 8, 9)}
    assert rules(report) == ["missing-on-replica"]
    assert not report.ok


def test_a_row_missing_on_every_replica_is_lost() -> None:
    without_7 = ROWS - {7}
    report = verify(replica("a", without_7), replica("b", without_7), replica("c", without_7))
    assert report.lost == 1
    assert report.lost_sample == (7,)
    assert report.missing_by_replica == {"a": 1, "b": 1, "c": 1}
    assert rules(report) == ["lost", "missing-on-replica"]


def test_a_down_replica_is_unverified_never_ok() -> None:
    down = replica("c", frozenset(), unreadable=ROWS, error="down")
    report = verify(replica("a"), replica("b"), down)
    assert report.lost == report.unverified == 0  # the others have every row
    assert report.unverified_replicas == {"c": "down"}
    assert report.replicas_checked == 2
    assert report.missing_by_replica["c"] == 0  # not read, so not counted as missing
    assert rules(report) == ["replica-unverified"]


def test_rows_only_the_unreachable_replica_could_hold_are_unverified_not_lost() -> None:
    # RF 1: each replica owns its own rows; c is down.
    a = replica("a", frozenset({0, 1}), owned=frozenset({0, 1}))
    c = replica("c", frozenset(), owned=frozenset({2, 3}), unreadable=frozenset({2, 3}), error="x")
    report = verify(a, c, rows=frozenset({0, 1, 2, 3}))
    assert report.lost == 0
    assert report.unverified == 2
    assert rules(report) == ["replica-unverified", "unverified"]


def test_partly_unreadable_replica_is_unverified_even_without_an_error_text() -> None:
    b = replica("b", ROWS - {4}, unreadable=frozenset({4}))
    report = verify(replica("a"), b, replica("c"))
    assert report.unverified_replicas == {"b": "1 acked rows unreadable"}
    assert report.missing_by_replica["b"] == 0


def test_rows_no_replica_was_known_to_own_are_unverified() -> None:
    # Shards without owners in the token map: nobody read them, so nothing proves them.
    report = verify(replica("a", owned=frozenset({0, 1}), found=frozenset({0, 1})))
    assert report.lost == 0
    assert report.unverified == len(ROWS) - 2
    assert "unverified" in rules(report)


def test_a_wrong_value_on_one_replica_is_corruption() -> None:
    bad = ReplicaRead("b", "id-b", ROWS, ROWS, corrupt=frozenset({3}))
    report = verify(replica("a"), bad, replica("c"))
    assert report.corrupt == 1
    assert rules(report) == ["corrupt"]


replica_sets = st.lists(
    st.tuples(st.frozensets(st.integers(0, 30)), st.frozensets(st.integers(0, 30))),
    min_size=1,
    max_size=4,
)


@given(rows=st.frozensets(st.integers(0, 30), min_size=1), replicas=replica_sets)
def test_lost_means_missing_on_every_owner_that_was_read(
    rows: frozenset[int], replicas: list[tuple[frozenset[int], frozenset[int]]]
) -> None:
    reads = [
        ReplicaRead(f"r{i}", f"id{i}", owned, found & owned, unreadable=unread & owned - found)
        for i, (found, unread) in enumerate(replicas)
        for owned in [rows | found]
    ]
    report = verify(*reads, rows=rows)
    held = frozenset().union(*(r.found for r in reads))
    unread = frozenset().union(*(r.unreadable for r in reads))
    assert report.lost == len(rows - held - unread)
    assert report.missing_on_replicas == sum(len(r.missing(rows)) for r in reads)
    assert report.ok == (not report.failures)
    if report.lost:
        assert not report.ok


# --- the consistency / replication-factor rule -------------------------------------


@pytest.mark.parametrize(
    ("level", "rf", "required"),
    [
        ("ONE", 3, 1),
        ("LOCAL_ONE", 3, 1),
        ("TWO", 3, 2),
        ("QUORUM", 3, 2),
        ("QUORUM", 5, 3),
        ("LOCAL_QUORUM", 4, 3),
        ("ALL", 3, 3),
        ("EACH_REPLICA", 5, 5),
        ("ANY", 3, 0),
    ],
)
def test_replicas_a_level_waits_for(level: str, rf: int, required: int) -> None:
    assert replicas_required(level, rf) == required


@pytest.mark.parametrize(
    ("write", "read", "rf", "proves"),
    [
        ("QUORUM", EACH_REPLICA, 3, True),
        ("ALL", EACH_REPLICA, 3, True),
        ("ONE", EACH_REPLICA, 1, True),  # RF 1: one copy is a majority
        ("ONE", EACH_REPLICA, 3, False),  # an ack from 1 of 3 proves little
        ("ANY", EACH_REPLICA, 1, False),
        ("TWO", EACH_REPLICA, 4, False),  # 2 of 4 is not a majority
        ("QUORUM", "QUORUM", 3, True),  # classic: 2 + 2 > 3
        ("QUORUM", "ONE", 3, False),  # classic: 2 + 1 = 3 does not overlap
        ("ALL", "ONE", 3, True),
        ("QUORUM", EACH_REPLICA, 0, False),  # RF unknown
    ],
)
def test_durability_needs_a_majority_write_and_overlapping_read(
    write: str, read: str, rf: int, proves: bool
) -> None:
    assert (durability_problem(write, read, rf) is None) is proves


def test_weak_write_consistency_fails_the_run_with_the_reason() -> None:
    info = replace(INFO, write_consistency="ONE")
    report = verify(replica("a"), replica("b"), replica("c"), info=info)
    assert rules(report) == ["consistency-too-weak"]
    assert "majority (2" in report.failures[0].message


def test_classic_read_that_need_not_overlap_fails() -> None:
    read = ReadBack(found=ROWS, consistency="ONE")
    report = build_report(INFO, acked(*ROWS), read)
    assert rules(report) == ["consistency-too-weak"]
    assert "W + R must exceed RF" in report.failures[0].message


def test_unknown_read_level_fails_instead_of_raising() -> None:
    report = build_report(INFO, acked(*ROWS), ReadBack(found=ROWS, consistency="-"))
    assert rules(report) == ["consistency-too-weak"]


# --- replication -------------------------------------------------------------------


def test_replication_not_as_asked_fails() -> None:
    info = replace(INFO, replication="dc1:1", replication_factor=1)
    report = verify(replica("a"), info=info)
    assert rules(report) == ["replication-mismatch"]
    assert report.failures[0].message == "keyspace ks has replication dc1:1, not dc1:3 as asked"


def test_replication_unchecked_when_nothing_was_asked() -> None:
    info = replace(INFO, replication_asked="")
    assert verify(replica("a"), replica("b"), replica("c"), info=info).ok


def test_replication_from_the_schema() -> None:
    nts = Replication.from_schema(
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc2": "1", "dc1": "3"}
    )
    assert str(nts) == "dc1:3,dc2:1"
    assert (nts.factor_in("dc1"), nts.factor_in("dc2"), nts.factor_in("dc3")) == (3, 1, 0)
    assert nts != Replication.network_topology("dc1", 3)
    assert Replication.from_schema({"class": "NetworkTopologyStrategy", "dc1": "3"}) == (
        Replication.network_topology("dc1", 3)
    )
    simple = Replication.from_schema(
        {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}
    )
    assert simple.factor_in("dc1") == 3
    # Another strategy never prints like the NetworkTopologyStrategy that was asked for.
    assert str(simple) == "SimpleStrategy replication_factor:3"
    transient = Replication.from_schema({"class": "NetworkTopologyStrategy", "dc1": "3/1"})
    assert transient.factor_in("dc1") == 3


def test_a_copy_missing_on_one_of_three_replicas_is_not_under_replicated() -> None:
    report = verify(replica("a"), replica("b", ROWS - {4}), replica("c"))
    assert report.under_replicated == 0
    assert rules(report) == ["missing-on-replica"]


def test_rows_on_fewer_replicas_than_the_write_level_acknowledged_are_under_replicated() -> None:
    report = verify(replica("a"), replica("b", ROWS - {4, 5}), replica("c", ROWS - {5}))
    assert report.lost == 0
    assert report.under_replicated == 1
    assert report.under_replicated_sample == (5,)
    assert rules(report) == ["under-replicated", "missing-on-replica"]
    assert json.loads(report.to_json())["under_replicated_sample"] == [5]


def test_an_unreadable_copy_is_not_counted_as_missing_for_under_replication() -> None:
    report = verify(
        replica("a"),
        replica("b", ROWS - {4}, unreadable=frozenset({4}), error="timeout"),
        replica("c", ROWS - {4}),
    )
    assert report.under_replicated == 0
    assert "under-replicated" not in rules(report)


def test_a_row_owned_by_fewer_replicas_than_the_level_is_judged_against_its_owners() -> None:
    only_a = frozenset({0})
    report = verify(replica("a"), replica("b", ROWS - only_a, owned=ROWS - only_a))
    assert report.under_replicated == 0


def test_missing_rows_are_counted_by_the_node_that_coordinated_them() -> None:
    attempts = [
        Attempt(seq, 0.0, 0.01, Outcome.ACKED, coordinator="x" if seq < 5 else "y") for seq in ROWS
    ]
    reads = merge_replica_reads([replica("a"), replica("b", ROWS - {1, 2, 7}), replica("c")], ROWS)
    report = build_report(INFO, attempts, reads)
    assert report.missing_coordinated_by == {"b": {"x": 2, "y": 1}}
    assert "b ← x: 2, y: 1" in report.summary()
    assert verify(replica("a")).missing_coordinated_by == {}


# --- the rules are data ------------------------------------------------------------


def test_rule_names_are_unique_and_each_can_fail() -> None:
    names = [name for name, _ in VERDICT_RULES]
    assert len(names) == len(set(names))
    seen = set(rules(build_report(INFO, [], ReadBack(found=frozenset({99}), consistency="ONE"))))
    seen |= set(rules(verify(replica("a", ROWS - {1}), replica("b", frozenset(), error="x"))))
    seen |= set(rules(verify(ReplicaRead("a", "i", ROWS, ROWS, corrupt=frozenset({1})))))
    seen |= set(rules(verify(replica("a"), info=replace(INFO, replication="x"))))
    seen |= set(rules(verify(replica("a", ROWS - {2}))))
    seen |= set(rules(verify(replica("a"), replica("b", ROWS - {3}), replica("c", ROWS - {3}))))
    seen |= set(rules(verify(replica("a", owned=frozenset(), found=frozenset()))))
    assert seen == set(names)


def test_json_has_per_replica_figures() -> None:
    report = verify(replica("a"), replica("b", frozenset({0})), replica("c", error="down"))
    data = json.loads(report.to_json())
    assert data["missing_by_replica"] == {"a": 0, "b": 9, "c": 0}
    assert data["missing_sample_by_replica"] == {"b": list(range(1, 10))}
    assert data["unverified_replicas"] == {"c": "down"}
    assert data["missing_on_replicas"] == 9
    assert data["replicas_checked"] == 2
    assert {f["rule"] for f in data["failures"]} == {"missing-on-replica", "replica-unverified"}


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "data-checker.md").read_text()
    for name, _ in VERDICT_RULES:
        assert f"| `{name}` |" in doc, f"rule {name} is missing from docs/data-checker.md"
