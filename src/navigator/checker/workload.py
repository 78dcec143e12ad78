"""The writer: uniquely identified rows at a steady rate, every outcome recorded.

`DataChecker` is the public face: a context manager that starts the writer in
a background thread on entry and stops it on exit; `verify()` then reads
every row back from every replica that owns it (see `replicas`) and returns
a `Report`.

An attempt is ACKED only when the driver's future calls back with success.
Requests still without an answer when the writer stops are UNKNOWN.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from navigator.checker.connection import (
    ConnectionSettings,
    consistency,
    ensure_schema,
    local_dc,
    open_cluster,
    replication,
)
from navigator.checker.consistency import AUTO, EACH_REPLICA, Replication
from navigator.checker.replicas import ReplicaSettings, verify_replicas
from navigator.checker.report import (
    Attempt,
    Outcome,
    ReadBack,
    Report,
    RunInfo,
    build_report,
    classify_error,
    error_label,
    is_timeout,
)
from navigator.checker.schema import DEFAULT_KEYSPACE, DEFAULT_TABLE, Table, value_for
from navigator.checker.verify import read_back

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """How the checker writes and verifies. Default: RF=3, QUORUM writes, replicas read alone."""

    keyspace: str = DEFAULT_KEYSPACE
    table: str = DEFAULT_TABLE
    replication_factor: int = 3
    rate: float = 100.0  # writes per second (target)
    concurrency: int = 32  # requests in flight at most
    write_consistency: str = "QUORUM"
    # AUTO (= EACH_REPLICA): every replica read alone. A level (QUORUM, ALL...)
    # reads the cluster at that level instead: no per-replica detail.
    read_consistency: str = AUTO
    read_attempts: int = 3  # per partition (and replica)
    read_retry_delay: float = 1.0  # seconds, times the attempt number
    verify_concurrency: int = 16  # partitions read in parallel from one replica
    settle_timeout: float = 60.0  # wait for replicas up and hints delivered before reading
    recheck_delay: float = 15.0  # before re-reading a replica that lacks rows
    drain_timeout: float = 30.0  # how long stop() waits for answers in flight
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.concurrency < 1 or self.replication_factor < 1:
            raise ValueError("rate, concurrency and replication_factor must be positive")
        if self.verify_concurrency < 1 or self.read_attempts < 1:
            raise ValueError("verify_concurrency and read_attempts must be positive")
        consistency(self.write_consistency)  # ValueError on a level that does not exist
        if not self.per_replica:
            consistency(self.read_consistency)

    @property
    def per_replica(self) -> bool:
        """Verify every replica alone (the default), rather than read the cluster at a level."""
        return self.read_consistency.upper() in (AUTO, EACH_REPLICA)


@dataclass(frozen=True)
class Progress:
    attempted: int
    acked: int
    failed: int
    unknown: int
    in_flight: int


class Ledger:
    """Thread-safe record of every attempt; driver callbacks write, the writer reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: dict[int, float] = {}
        self._done: list[Attempt] = []
        self._counts = dict.fromkeys(Outcome, 0)
        self._changed = threading.Condition(self._lock)
        self.origin = clock()

    def now(self) -> float:
        return self._clock() - self.origin

    def issued(self, seq: int) -> None:
        with self._lock:
            self._in_flight[seq] = self.now()

    def completed(
        self,
        seq: int,
        outcome: Outcome,
        error: str | None = None,
        *,
        timed_out: bool = False,
        coordinator: str = "",
    ) -> None:
        with self._changed:
            issued_at = self._in_flight.pop(seq, None)
            if issued_at is None:  # already given up on (see abandon)
                return
            attempt = Attempt(seq, issued_at, self.now(), outcome, error, timed_out, coordinator)
            self._record(attempt)
            self._changed.notify_all()

    def abandon(self) -> None:
        """Requests that never got an answer are UNKNOWN."""
        with self._changed:
            now = self.now()
            for seq, issued_at in self._in_flight.items():
                self._record(Attempt(seq, issued_at, now, Outcome.UNKNOWN, "NoResponse", True))
            self._in_flight.clear()
            self._changed.notify_all()

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self._changed:
            return bool(self._changed.wait_for(lambda: predicate(self._progress()), timeout))

    def progress(self) -> Progress:
        with self._lock:
            return self._progress()

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._done)

    def _record(self, attempt: Attempt) -> None:
        self._done.append(attempt)
        self._counts[attempt.outcome] += 1

    def _progress(self) -> Progress:
        counts = self._counts
        return Progress(
            attempted=len(self._done) + len(self._in_flight),
            acked=counts[Outcome.ACKED],
            failed=counts[Outcome.FAILED],
            unknown=counts[Outcome.UNKNOWN],
            in_flight=len(self._in_flight),
        )


class Writer(threading.Thread):
    """Issues INSERTs at ``rate``/s with at most ``concurrency`` in flight."""

    def __init__(self, session: Any, table: Table, writer: uuid.UUID, settings: Settings) -> None:
        super().__init__(name="navigator-checker-writer", daemon=True)
        self.ledger = Ledger()
        self._session = session
        self._table = table
        self._writer = writer
        self._settings = settings
        self._stop_event = threading.Event()
        self.stopped_at: float | None = None  # when issuing stopped (seconds since start)
        self.error: BaseException | None = None  # why the writer died, if it did
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._insert = session.prepare(table.insert())
        self._insert.consistency_level = consistency(settings.write_consistency)
        self._insert.is_idempotent = True

    def run(self) -> None:
        try:
            self._write()
        except BaseException as err:  # surfaced by DataChecker.verify
            log.exception("the checker's writer died")
            self.error = err

    def _write(self) -> None:
        interval = 1.0 / self._settings.rate
        seq = 0
        due = time.monotonic()
        while not self._stop_event.is_set():
            delay = due - time.monotonic()
            if delay > 0 and self._stop_event.wait(delay):
                break
            if not self._slots.acquire(timeout=0.5):
                continue
            self._issue(seq)
            seq += 1
            # Keep the schedule, but catch up at most one second after a stall.
            due = max(due + interval, time.monotonic() - 1.0)

    def stop(self) -> None:
        """Stop issuing, wait for the answers in flight, give up on the rest."""
        self.stopped_at = self.ledger.now()
        self._stop_event.set()
        self.join()
        drained = self.ledger.wait(lambda p: p.in_flight == 0, self._settings.drain_timeout)
        if not drained:
            log.warning("some writes got no answer within %.0fs", self._settings.drain_timeout)
        self.ledger.abandon()

    def _issue(self, seq: int) -> None:
        self.ledger.issued(seq)
        values = (self._writer, self._table.shard_of(seq), seq, value_for(str(self._writer), seq))
        try:
            future = self._session.execute_async(self._insert, values)
        except Exception as err:
            self._on_error(err, seq)
            return
        future.add_callbacks(
            callback=self._on_ack,
            callback_args=(seq, future),
            errback=self._on_error,
            errback_args=(seq,),
        )

    def _on_ack(self, _result: Any, seq: int, future: Any = None) -> None:
        host = getattr(future, "coordinator_host", None)  # a driver Host
        address = getattr(host, "address", host)
        self.ledger.completed(seq, Outcome.ACKED, coordinator=str(address or ""))
        self._slots.release()

    def _on_error(self, error: BaseException, seq: int) -> None:
        name = type(error).__name__
        # NoHostAvailable carries what each host it tried answered.
        per_host = getattr(error, "errors", None)
        causes = [type(e).__name__ for e in per_host.values()] if isinstance(per_host, dict) else []
        outcome, label = classify_error(name, causes), error_label(name, causes)
        self.ledger.completed(seq, outcome, label, timed_out=is_timeout(name, causes))
        self._slots.release()


class DataChecker:
    """Write during an operation, then prove nothing acknowledged was lost.

    >>> with DataChecker(["10.0.0.1"]) as checker:   # doctest: +SKIP
    ...     do_the_operation()
    >>> report = checker.verify()                     # doctest: +SKIP
    >>> assert report.ok, report.summary()            # doctest: +SKIP
    """

    def __init__(self, contact_points: Sequence[str], settings: Settings | None = None) -> None:
        self.contact_points = list(contact_points)
        self.settings = settings or Settings()
        self.table = Table(self.settings.keyspace, self.settings.table)
        self.writer_id = uuid.uuid4()
        self._writer: Writer | None = None
        self._cluster: Any = None
        self._session: Any = None
        self._started_at = ""
        self._replication: Replication | None = None
        self._replication_asked: Replication | None = None
        self._dc = ""
        self.last_read: ReadBack | None = None  # what the last verify() saw, per replica

    # lifecycle

    def start(self) -> None:
        """Connect, create the keyspace and table if missing, start writing."""
        self._cluster = open_cluster(self.contact_points, self.settings.connection)
        self._session = session = self._cluster.connect()
        self._dc = dc = self.settings.connection.dc or local_dc(session)
        rf = self.settings.replication_factor
        ensure_schema(session, self.table, dc=dc, replication_factor=rf)
        self._replication = found = replication(session, self.table.keyspace)
        self._replication_asked = asked = Replication.network_topology(dc, rf)
        if found != asked:  # the report fails on it (rule replication-mismatch)
            log.warning(
                "keyspace %s already has replication %s, not %s", self.table.keyspace, found, asked
            )
        self._writer = Writer(session, self.table, self.writer_id, self.settings)
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._writer.start()
        log.info("checker %s writing to %s in dc %s", self.writer_id, self.table.qualified, dc)

    def stop(self) -> None:
        """Stop writing (idempotent); the connection stays open for `verify`."""
        if self._writer is not None and self._writer.is_alive():
            self._writer.stop()

    def close(self) -> None:
        self.stop()
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = self._session = None

    def __enter__(self) -> DataChecker:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # After a failed operation nobody will call verify(): let go of the cluster.
        if exc_type is None:
            self.stop()
        else:
            self.close()

    # observing

    def progress(self) -> Progress:
        return self._require_writer().ledger.progress()

    def attempts(self) -> list[Attempt]:
        """Every finished attempt so far (a copy)."""
        return self._require_writer().ledger.attempts()

    def wait_for_acks(self, count: int, timeout: float = 60.0) -> Progress:
        """Block until ``count`` more writes are acknowledged; TimeoutError otherwise."""
        ledger = self._require_writer().ledger
        target = ledger.progress().acked + count
        if not ledger.wait(lambda p: p.acked >= target, timeout):
            raise TimeoutError(f"fewer than {count} writes acknowledged in {timeout:.0f}s")
        return ledger.progress()

    def verify(self) -> Report:
        """Stop writing, read every row back from each replica, report; closes the connection."""
        writer = self._require_writer()
        self.stop()
        if self._session is None:
            raise RuntimeError("the checker is closed; verify() reads with its connection")
        if writer.error is not None:
            self.close()
            raise RuntimeError(f"the checker's writer died: {writer.error!r}") from writer.error
        attempts = writer.ledger.attempts()
        began = time.monotonic()
        try:
            self.last_read = read = self._read(attempts)
        finally:
            self.close()
        return build_report(self._info(writer, time.monotonic() - began), attempts, read)

    def _read(self, attempts: Sequence[Attempt]) -> ReadBack:
        s = self.settings
        attempted = [a.seq for a in attempts]
        timeout = max(30.0, s.connection.request_timeout)
        if not s.per_replica:
            return read_back(
                self._session,
                self.table,
                self.writer_id,
                attempted,
                read_consistency=s.read_consistency,
                timeout=timeout,
                attempts=s.read_attempts,
                retry_delay=s.read_retry_delay,
            )
        acked = [a.seq for a in attempts if a.outcome is Outcome.ACKED]
        options = ReplicaSettings(
            concurrency=s.verify_concurrency,
            attempts=s.read_attempts,
            retry_delay=s.read_retry_delay,
            timeout=timeout,
            settle_timeout=s.settle_timeout,
            recheck_delay=s.recheck_delay,
        )
        return verify_replicas(
            self._session, self._cluster, self.table, self.writer_id, attempted, acked, options
        )

    def _info(self, writer: Writer, verify_s: float) -> RunInfo:
        found, asked = self._replication, self._replication_asked
        return RunInfo(
            writer_id=str(self.writer_id),
            keyspace=self.table.keyspace,
            table=self.table.name,
            write_consistency=self.settings.write_consistency.upper(),
            started_at=self._started_at,
            duration_s=writer.stopped_at or 0.0,
            replication=str(found) if found else "",
            replication_asked=str(asked) if asked else "",
            replication_factor=found.factor_in(self._dc) if found else 0,
            verify_s=verify_s,
        )

    def _require_writer(self) -> Writer:
        if self._writer is None:
            raise RuntimeError("the checker has not been started")
        return self._writer
