"""The writer's bookkeeping with a fake driver session: only a successful future is an ack."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from navigator.checker.report import Outcome
from navigator.checker.schema import Table, value_for
from navigator.checker.workload import Ledger, Settings, Writer

pytestmark = pytest.mark.unit


class WriteTimeout(Exception):
    """Named like the driver's: the class name is what the writer records."""


class Unavailable(Exception):
    pass


class FakeFuture:
    def __init__(self, error: Exception | None, answer: bool) -> None:
        self.error, self.answer = error, answer

    def add_callbacks(
        self,
        callback: Callable[..., None],
        errback: Callable[..., None],
        callback_args: tuple[Any, ...] = (),
        errback_args: tuple[Any, ...] = (),
    ) -> None:
        if not self.answer:
            return  # never answers: stays in flight
        if self.error is None:
            callback(None, *callback_args)
        else:
            errback(self.error, *errback_args)


class FakeSession:
    """Answers by sequence number: ``outcome(seq)`` → None (ack), an exception, or "silent"."""

    def __init__(self, outcome: Callable[[int], Exception | str | None]) -> None:
        self.outcome = outcome
        self.rows: list[tuple[Any, ...]] = []

    def prepare(self, query: str) -> Any:
        return type("Prepared", (), {"query": query})()

    def execute_async(self, _statement: Any, values: tuple[Any, ...]) -> FakeFuture:
        self.rows.append(values)
        result = self.outcome(values[2])
        if result == "silent":
            return FakeFuture(None, answer=False)
        if isinstance(result, str):
            raise AssertionError(result)
        return FakeFuture(result, answer=True)


def run_writer(session: FakeSession, seconds: float = 0.3, **settings: Any) -> Writer:
    options: dict[str, Any] = {"rate": 200.0, "drain_timeout": 0.2, **settings}
    writer = Writer(session, Table(), uuid.uuid4(), Settings(**options))
    writer.start()
    time.sleep(seconds)
    writer.stop()
    return writer


def test_only_successful_futures_are_acks() -> None:
    def outcome(seq: int) -> Exception | None:
        return [None, WriteTimeout(), Unavailable()][seq % 3]

    attempts = run_writer(FakeSession(outcome)).ledger.attempts()
    assert attempts
    for a in attempts:
        expected = [Outcome.ACKED, Outcome.UNKNOWN, Outcome.FAILED][a.seq % 3]
        assert a.outcome is expected
    assert {a.error for a in attempts} == {None, "WriteTimeout", "Unavailable"}
    assert {a.seq % 3 for a in attempts if a.timed_out} == {1}  # only the WriteTimeouts


class NoHostAvailable(Exception):
    def __init__(self, errors: dict[str, Exception]) -> None:
        super().__init__("no host")
        self.errors = errors


def test_no_host_available_is_a_failure_only_when_every_host_refused() -> None:
    def outcome(seq: int) -> Exception:
        if seq % 2:
            return NoHostAvailable({"a": Unavailable(), "b": Unavailable()})
        return NoHostAvailable({"a": Unavailable(), "b": WriteTimeout()})

    attempts = run_writer(FakeSession(outcome)).ledger.attempts()
    assert {(a.seq % 2, a.outcome, a.error) for a in attempts} == {
        (1, Outcome.FAILED, "NoHostAvailable(Unavailable)"),
        (0, Outcome.UNKNOWN, "NoHostAvailable(Unavailable,WriteTimeout)"),
    }


def test_unanswered_requests_become_unknown_when_stopped() -> None:
    writer = run_writer(FakeSession(lambda seq: "silent" if seq >= 5 else None), concurrency=8)
    progress = writer.ledger.progress()
    assert progress.in_flight == 0
    assert progress.acked == 5
    # The semaphore capped what was issued: 5 answered + 8 in flight.
    assert progress.unknown == 8
    assert {a.error for a in writer.ledger.attempts() if a.outcome is Outcome.UNKNOWN} == {
        "NoResponse"
    }
    assert all(a.timed_out for a in writer.ledger.attempts() if a.outcome is Outcome.UNKNOWN)


def test_rows_are_unique_and_carry_their_value() -> None:
    session = FakeSession(lambda seq: None)
    writer = run_writer(session)
    seqs = [row[2] for row in session.rows]
    assert seqs == list(range(len(seqs)))
    writer_id, shard, seq, value = session.rows[7]
    assert (shard, value) == (Table().shard_of(7), value_for(str(writer_id), seq))
    assert len(writer.ledger.attempts()) == len(seqs)


def test_rate_is_respected() -> None:
    session = FakeSession(lambda seq: None)
    run_writer(session, seconds=0.5, rate=20.0)
    assert 5 <= len(session.rows) <= 15


def test_late_answer_after_abandon_is_ignored() -> None:
    now = [0.0]
    ledger = Ledger(clock=lambda: now[0])
    ledger.issued(1)
    now[0] = 5.0
    ledger.abandon()
    ledger.completed(1, Outcome.ACKED)
    [attempt] = ledger.attempts()
    assert (attempt.outcome, attempt.issued_at, attempt.completed_at) == (Outcome.UNKNOWN, 0, 5)


def test_wait_wakes_on_completion() -> None:
    ledger = Ledger()
    ledger.issued(0)
    threading.Timer(0.05, ledger.completed, (0, Outcome.ACKED)).start()
    assert ledger.wait(lambda p: p.acked == 1, timeout=5)
    assert not ledger.wait(lambda p: p.acked == 2, timeout=0.05)
