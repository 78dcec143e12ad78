"""The checker's accounting: what counts as lost, unknown, unverified; windows; formats.

Per-replica accounting and the verdict rules are in test_replica_accounting.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from navigator.checker.report import (
    LOST_SAMPLE,
    Attempt,
    Outcome,
    ReadBack,
    Report,
    RunInfo,
    account,
    build_report,
    classify_error,
    error_label,
    is_timeout,
    max_gap,
    max_unavailable,
)
from navigator.checker.schema import Table, check_identifier, value_for

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


def attempt(
    seq: int, outcome: Outcome = Outcome.ACKED, at: float = 0.0, took: float = 0.01
) -> Attempt:
    error = None if outcome is Outcome.ACKED else "WriteTimeout"
    return Attempt(seq, float(at), float(at) + took, outcome, error)


def read(*found: int, unreadable: frozenset[int] = frozenset()) -> ReadBack:
    return ReadBack(found=frozenset(found), unreadable=unreadable)


# --- classification -----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ("Unavailable", Outcome.FAILED),
        ("InvalidRequest", Outcome.FAILED),
        ("WriteTimeout", Outcome.UNKNOWN),
        ("OperationTimedOut", Outcome.UNKNOWN),
        ("WriteFailure", Outcome.UNKNOWN),
        ("NoHostAvailable", Outcome.UNKNOWN),
        ("ConnectionShutdown", Outcome.UNKNOWN),
        ("SomethingNew", Outcome.UNKNOWN),
    ],
)
def test_only_refusals_are_definite_failures(error: str, outcome: Outcome) -> None:
    assert classify_error(error) is outcome


@pytest.mark.parametrize(
    ("causes", "outcome"),
    [
        (["Unavailable", "Unavailable"], Outcome.FAILED),
        (["Unavailable", "WriteTimeout"], Outcome.UNKNOWN),
        (["ConnectionRefusedError"], Outcome.UNKNOWN),
    ],
)
def test_a_wrapper_failed_only_if_every_host_refused(causes: list[str], outcome: Outcome) -> None:
    assert classify_error("NoHostAvailable", causes) is outcome


def test_error_label_names_distinct_causes() -> None:
    assert error_label("NoHostAvailable", ["Unavailable", "Unavailable"]) == (
        "NoHostAvailable(Unavailable)"
    )
    assert error_label("WriteTimeout") == "WriteTimeout"


# --- accounting ---------------------------------------------------------------


def test_all_acked_and_found_is_ok() -> None:
    report = build_report(INFO, [attempt(0), attempt(1), attempt(2)], read(0, 1, 2))
    assert report.ok
    assert (report.attempted, report.acked, report.lost, report.failed) == (3, 3, 0, 0)
    assert report.availability == 1.0
    assert report.write_rate == pytest.approx(0.3)


def test_missing_acked_write_is_lost() -> None:
    report = build_report(INFO, [attempt(0), attempt(1), attempt(2)], read(0, 2))
    assert not report.ok
    assert report.lost == 1
    assert report.lost_sample == (1,)


def test_missing_timed_out_write_is_not_lost_but_reported() -> None:
    attempts = [attempt(0), attempt(1, Outcome.UNKNOWN), attempt(2, Outcome.UNKNOWN)]
    report = build_report(INFO, attempts, read(0, 2))
    assert report.ok
    assert report.lost == 0
    assert report.unknown == 2
    assert report.unknown_found == 1
    assert report.failure_rate == pytest.approx(2 / 3)


def test_acked_write_in_an_unreadable_shard_is_unverified_not_lost() -> None:
    report = build_report(INFO, [attempt(0), attempt(1)], read(0, unreadable=frozenset({1})))
    assert report.lost == 0
    assert report.unverified == 1
    assert not report.ok


def test_row_never_attempted_is_unexpected() -> None:
    report = build_report(INFO, [attempt(0)], read(0, 7))
    assert report.unexpected == 1
    assert not report.ok


def test_corrupt_row_fails_the_run() -> None:
    corrupt = ReadBack(found=frozenset({0}), corrupt=frozenset({0}))
    assert not build_report(INFO, [attempt(0)], corrupt).ok


def test_lost_sample_is_bounded_and_sorted() -> None:
    attempts = [attempt(seq) for seq in range(100)]
    report = build_report(INFO, attempts, read())
    assert report.lost == 100
    assert report.lost_sample == tuple(range(LOST_SAMPLE))


def test_nothing_attempted_fails() -> None:
    report = build_report(INFO, [], read())
    assert not report.ok
    assert [f.rule for f in report.failures] == ["nothing-acknowledged"]
    assert report.failure_rate == 0.0
    assert report.max_unavailable_s == report.max_gap_s == 0.0


def test_errors_are_counted_by_class_most_frequent_first() -> None:
    attempts = [
        Attempt(0, 0, 1, Outcome.FAILED, "Unavailable"),
        Attempt(1, 0, 1, Outcome.UNKNOWN, "WriteTimeout"),
        Attempt(2, 0, 1, Outcome.UNKNOWN, "WriteTimeout"),
        attempt(3),
    ]
    assert build_report(INFO, attempts, read(3)).errors == (("WriteTimeout", 2), ("Unavailable", 1))


outcomes = st.sampled_from(list(Outcome))


@given(
    outcomes=st.dictionaries(st.integers(0, 200), outcomes, max_size=100),
    found=st.frozensets(st.integers(0, 250), max_size=120),
    unreadable=st.frozensets(st.integers(0, 200), max_size=30),
)
def test_lost_is_exactly_acked_minus_found(
    outcomes: dict[int, Outcome], found: frozenset[int], unreadable: frozenset[int]
) -> None:
    attempts = [attempt(seq, outcome) for seq, outcome in outcomes.items()]
    books = account(attempts, ReadBack(found=found, unreadable=unreadable - found))
    acked = {seq for seq, outcome in outcomes.items() if outcome is Outcome.ACKED}
    unknown = {seq for seq, outcome in outcomes.items() if outcome is Outcome.UNKNOWN}
    assert books.lost == acked - found - unreadable
    assert not books.lost & unknown  # an unknown write is never lost
    assert not books.lost & found
    assert books.unexpected == found - set(outcomes)
    report = build_report(INFO, attempts, ReadBack(found=found, unreadable=unreadable - found))
    assert report.acked + report.failed + report.unknown == report.attempted
    assert report.ok == (
        bool(acked) and not books.lost and not books.unexpected and not books.unverified
    )


# --- unavailability windows ---------------------------------------------------


def test_window_spans_consecutive_failures_until_last_completion() -> None:
    attempts = [
        attempt(0, at=0),
        attempt(1, Outcome.UNKNOWN, at=1, took=10),
        attempt(2, Outcome.FAILED, at=2, took=0.5),
        attempt(3, at=12),
        attempt(4, Outcome.FAILED, at=13, took=1),
        attempt(5, at=14),
    ]
    assert max_unavailable(attempts) == pytest.approx(10.0)


def test_window_uses_issue_order_not_list_order() -> None:
    attempts = [attempt(1, Outcome.FAILED, at=5, took=1), attempt(0, at=4), attempt(2, at=7)]
    assert max_unavailable(attempts) == pytest.approx(1.0)


def test_unrecovered_failures_run_to_the_last_completion() -> None:
    attempts = [
        attempt(0, at=0),
        *(attempt(i, Outcome.FAILED, at=i, took=0.5) for i in range(1, 5)),
    ]
    assert max_unavailable(attempts) == pytest.approx(3.5)


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 20), outcomes), max_size=50))
def test_window_is_bounded_by_the_failures_it_spans(
    raw: list[tuple[float, float, Outcome]],
) -> None:
    attempts = [attempt(i, outcome, at=at, took=took) for i, (at, took, outcome) in enumerate(raw)]
    window = max_unavailable(attempts)
    failures = [a for a in attempts if a.outcome is not Outcome.ACKED]
    if not failures:
        assert window == 0.0
    else:
        assert (
            0.0
            <= window
            <= max(a.completed_at for a in failures) - min(a.issued_at for a in failures) + 1e-9
        )


def test_longest_gap_runs_between_acks_and_to_the_stop() -> None:
    attempts = [
        attempt(0, at=0.0),
        attempt(1, Outcome.UNKNOWN, at=1.0, took=5.0),
        attempt(2, at=6.5, took=0.5),  # acked at 7.0: 7.0 - 0.01 without an ack
        attempt(3, at=7.5),
    ]
    assert max_gap(attempts, end=8.0) == pytest.approx(7.0 - 0.01)
    assert max_gap(attempts, end=20.0) == pytest.approx(20.0 - 7.51)


def test_no_ack_at_all_is_one_gap_over_the_whole_run() -> None:
    attempts = [attempt(0, Outcome.FAILED, at=1.0), attempt(1, Outcome.FAILED, at=2.0)]
    assert max_gap(attempts, end=10.0) == pytest.approx(9.0)
    assert max_gap([], end=10.0) == 0.0


def test_timeouts_are_counted_apart_from_refusals() -> None:
    attempts = [
        Attempt(0, 0, 1, Outcome.UNKNOWN, "WriteTimeout", timed_out=True),
        Attempt(1, 0, 1, Outcome.UNKNOWN, "NoResponse", timed_out=True),
        Attempt(2, 0, 1, Outcome.FAILED, "Unavailable"),
        attempt(3),
    ]
    report = build_report(INFO, attempts, read(3))
    assert (report.timed_out, report.failed, report.unknown) == (2, 1, 2)


@pytest.mark.parametrize(
    ("error", "causes", "expected"),
    [
        ("WriteTimeout", [], True),
        ("OperationTimedOut", [], True),
        ("NoHostAvailable", ["Unavailable", "OperationTimedOut"], True),
        ("NoHostAvailable", ["Unavailable"], False),
        ("Unavailable", [], False),
    ],
)
def test_what_counts_as_a_timeout(error: str, causes: list[str], expected: bool) -> None:
    assert is_timeout(error, causes) is expected


# --- formats ------------------------------------------------------------------


def sample_report() -> Report:
    attempts = [
        attempt(0),
        attempt(1, Outcome.UNKNOWN),
        Attempt(2, 1, 2, Outcome.FAILED, "Unavailable"),
    ]
    return build_report(INFO, attempts, read(0))


def test_summary_is_one_line_with_the_verdict() -> None:
    line = sample_report().summary()
    assert "\n" not in line
    assert line.startswith("OK: lost=0 acked=1/3")


def test_failed_summary_says_why_on_the_same_line() -> None:
    line = build_report(INFO, [attempt(0), attempt(1)], read(0)).summary()
    assert "\n" not in line
    assert line.startswith("FAIL: lost=1 ")
    assert line.endswith("| lost: 1 acked rows are on no replica (first: [1])")


def test_markdown_row_matches_the_header() -> None:
    columns = Report.MARKDOWN_HEADER.splitlines()[0].count("|")
    assert sample_report().markdown_row().count("|") == columns


def test_json_round_trips_the_figures() -> None:
    data = json.loads(sample_report().to_json())
    assert data["ok"] is True
    assert data["lost"] == 0
    assert data["errors"] == {"Unavailable": 1, "WriteTimeout": 1}
    assert data["availability"] == pytest.approx(1 / 3)
    assert data["failures"] == []
    assert data["missing_on_replicas"] == 0


def test_json_carries_the_failures_with_their_rule() -> None:
    data = json.loads(build_report(INFO, [], read()).to_json())
    assert data["ok"] is False
    assert data["failures"][0]["rule"] == "nothing-acknowledged"


def test_report_is_frozen() -> None:
    report = sample_report()
    with pytest.raises(AttributeError):
        report.lost = 1  # type: ignore[misc]


# --- schema -------------------------------------------------------------------


def test_table_statements_use_the_qualified_name() -> None:
    table = Table("ks", "rows", shards=8)
    assert "ks.rows" in table.insert()
    assert "speculative_retry = 'NONE'" in table.create_table()
    assert "read_repair = 'NONE'" in table.alter_options()
    assert "'dc1': 3" in table.create_keyspace("dc1", 3)
    assert "NetworkTopologyStrategy" in table.create_keyspace("dc1", 3)
    assert {table.shard_of(seq) for seq in range(100)} == set(range(8))


@pytest.mark.parametrize("name", ["", "Upper", "a-b", "a;drop", "1abc"])
def test_odd_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        check_identifier(name)


def test_value_identifies_writer_and_seq() -> None:
    assert value_for("w", 1) != value_for("w", 2) != value_for("v", 2)
