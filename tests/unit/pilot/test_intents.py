"""The pilot's intent decision: restart-safe, idempotent, refusals recorded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from navigator.pilot.core.intents import (
    MAX_ATTEMPTS,
    Begin,
    Intent,
    Outcome,
    Phase,
    Progress,
    Record,
    Wait,
    completed_while_unwatched,
    next_step,
)

pytestmark = pytest.mark.unit

DECOM = Intent("decommission-1", "Decommission")


def running(attempts: int = 1) -> Outcome:
    return Outcome(DECOM.id, DECOM.action, Phase.RUNNING, "started", attempts)


def test_a_new_intent_begins() -> None:
    step = next_step(DECOM, None, Progress.NOT_STARTED, refusal=None, in_flight=False)
    assert isinstance(step, Begin)
    assert step.outcome.phase is Phase.RUNNING
    assert step.outcome.attempts == 1


def test_a_refused_intent_is_recorded_with_the_reason_and_never_begun() -> None:
    step = next_step(DECOM, None, Progress.NOT_STARTED, refusal="RuleX: why", in_flight=False)
    assert step == Record(Outcome(DECOM.id, DECOM.action, Phase.REFUSED, "RuleX: why", 0))


def test_in_flight_in_this_process_waits() -> None:
    step = next_step(DECOM, running(), Progress.NOT_STARTED, refusal=None, in_flight=True)
    assert isinstance(step, Wait)


def test_a_restarted_pilot_resumes_watching_an_operation_in_progress() -> None:
    # The database is LEAVING: the decommission runs in Cassandra, not in us.
    step = next_step(DECOM, running(), Progress.IN_PROGRESS, refusal="ignored", in_flight=False)
    assert isinstance(step, Wait)


def test_progress_seen_before_our_record_is_recorded_not_restarted() -> None:
    step = next_step(DECOM, None, Progress.IN_PROGRESS, refusal=None, in_flight=False)
    assert isinstance(step, Record)
    assert step.outcome.phase is Phase.RUNNING


def test_completion_is_recorded_once_and_then_settled() -> None:
    step = next_step(DECOM, running(), Progress.DONE, refusal=None, in_flight=False)
    assert isinstance(step, Record)
    assert step.outcome.phase is Phase.SUCCEEDED
    assert next_step(DECOM, step.outcome, Progress.DONE, refusal=None, in_flight=False) is None


def test_a_completed_operation_found_after_a_restart_is_reported_done() -> None:
    step = next_step(DECOM, None, Progress.DONE, refusal=None, in_flight=False)
    assert isinstance(step, Record)
    assert step.outcome.phase is Phase.SUCCEEDED


def test_an_interrupted_operation_is_restarted_and_counted() -> None:
    step = next_step(DECOM, running(1), Progress.NOT_STARTED, refusal=None, in_flight=False)
    assert isinstance(step, Begin)
    assert step.outcome.attempts == 2


def test_repeated_failures_end_in_failed() -> None:
    step = next_step(DECOM, running(MAX_ATTEMPTS), Progress.FAILED, refusal=None, in_flight=False)
    assert isinstance(step, Record)
    assert step.outcome.phase is Phase.FAILED


def test_unknown_progress_waits_for_the_database() -> None:
    assert isinstance(
        next_step(DECOM, running(), Progress.UNKNOWN, refusal=None, in_flight=False), Wait
    )


outcomes = st.one_of(
    st.none(),
    st.builds(
        Outcome,
        st.just(DECOM.id),
        st.just(DECOM.action),
        st.sampled_from(Phase),
        st.text(max_size=5),
        st.integers(0, MAX_ATTEMPTS + 2),
    ),
)


@given(
    outcomes, st.sampled_from(Progress), st.one_of(st.none(), st.text(min_size=1)), st.booleans()
)
def test_properties(
    outcome: Outcome | None, progress: Progress, refusal: str | None, in_flight: bool
) -> None:
    step = next_step(DECOM, outcome, progress, refusal=refusal, in_flight=in_flight)
    # A settled outcome is never reopened.
    if outcome is not None and outcome.phase.final:
        assert step is None
    # Nothing is ever started while the operation runs, here or in the database.
    if in_flight or progress in (Progress.IN_PROGRESS, Progress.DONE, Progress.UNKNOWN):
        assert not isinstance(step, Begin)
    # A refused operation is never started.
    if refusal is not None:
        assert not isinstance(step, Begin)
    # Attempts never decrease.
    if isinstance(step, Begin | Record) and outcome is not None:
        assert step.outcome.attempts >= outcome.attempts


def test_a_pending_decommission_is_completed_by_the_evidence() -> None:
    running = Outcome("d-2", "Decommission", Phase.RUNNING, "restarted", 2)
    got = completed_while_unwatched(
        [Intent("x", "Drain"), Intent("d-2", "Decommission")], {"d-2": running}, "gone"
    )
    assert got == Outcome(
        "d-2", "Decommission", Phase.SUCCEEDED, "completed while the pilot was down: gone", 2
    )


def test_a_requested_decommission_without_a_record_yet_is_completed_too() -> None:
    got = completed_while_unwatched([Intent("d-1", "Decommission")], {}, "gone")
    assert got is not None
    assert got.phase is Phase.SUCCEEDED
    assert got.attempts == 0


def test_settled_or_absent_decommissions_are_not_completed_by_evidence() -> None:
    refused = Outcome("d-1", "Decommission", Phase.REFUSED, "RF", 0)
    assert completed_while_unwatched([Intent("d-1", "Decommission")], {"d-1": refused}, "x") is None
    assert completed_while_unwatched([Intent("a", "Drain")], {}, "x") is None
    assert completed_while_unwatched([], {}, "x") is None


def test_the_decommission_recorded_running_is_the_one_completed() -> None:
    running = Outcome("d-2", "Decommission", Phase.RUNNING, "started", 1)
    got = completed_while_unwatched(
        [Intent("d-1", "Decommission"), Intent("d-2", "Decommission")], {"d-2": running}, "gone"
    )
    assert got is not None
    assert got.id == "d-2"
