"""Pure accounting for one checker run: what was written, what came back, the verdict.

Nothing here talks to Cassandra. The writer records one `Attempt` per
request and the read-back produces a `ReadBack`; `build_report` turns both into
a frozen `Report`. Keeping this pure lets the rules that decide "lost" be
tested exhaustively without a database:

- an acknowledged write is one whose driver future returned success;
- a write is *lost* only if it was acknowledged and a successful read did not
  return it;
- a timeout (or any other error after which the write may or may not have
  been applied) is *unknown*: reported, never counted as lost;
- a read that failed proves nothing, so acked writes it should have returned
  are *unverified*, not lost (and the run is not ok).
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

LOST_SAMPLE = 10


class Outcome(enum.Enum):
    """How one write request ended, from the client's point of view."""

    ACKED = "acked"
    # The coordinator refused before writing anything (not enough replicas up,
    # an invalid request): the write was not applied.
    FAILED = "failed"
    # No answer, or an answer after which the write may or may not be
    # persisted (timeouts, lost connections, coordinator failures).
    UNKNOWN = "unknown"


# Errors after which the write was certainly not applied. Everything else
# that is not a success is UNKNOWN: the conservative choice, because an
# UNKNOWN write that is missing is never counted as lost.
DEFINITE_FAILURES = frozenset(
    {
        "Unavailable",
        "InvalidRequest",
        "Unauthorized",
        "AuthenticationFailed",
        "SyntaxException",
        "ConfigurationException",
    }
)


def classify_error(error_class: str, causes: Iterable[str] = ()) -> Outcome:
    """The outcome of a request that raised ``error_class`` (the exception's class name).

    ``causes`` are the errors a wrapper such as ``NoHostAvailable`` collected
    from each host it tried: the request certainly failed only if every host
    refused it.
    """
    causes = list(causes)
    if causes:
        return Outcome.FAILED if set(causes) <= DEFINITE_FAILURES else Outcome.UNKNOWN
    return Outcome.FAILED if error_class in DEFINITE_FAILURES else Outcome.UNKNOWN


def error_label(error_class: str, causes: Iterable[str] = ()) -> str:
    """``NoHostAvailable(Unavailable)``: the class, and the distinct causes if any."""
    distinct = sorted(set(causes))
    return f"{error_class}({','.join(distinct)})" if distinct else error_class


@dataclass(frozen=True, slots=True)
class Attempt:
    """One write request. Times are seconds since the workload started."""

    seq: int
    issued_at: float
    completed_at: float
    outcome: Outcome
    error: str | None = None


@dataclass(frozen=True)
class ReadBack:
    """What the read-back saw, as sequence numbers of this writer's rows."""

    found: frozenset[int]
    # Rows returned whose value is not the one written.
    corrupt: frozenset[int] = frozenset()
    # Rows whose read failed even after retries: neither found nor missing.
    unreadable: frozenset[int] = frozenset()
    consistency: str = "ALL"


@dataclass(frozen=True)
class RunInfo:
    """Facts about the run that are not derived from the attempts."""

    writer_id: str
    keyspace: str
    table: str
    write_consistency: str
    started_at: str  # ISO 8601, UTC
    duration_s: float  # from the first write issued to the last
    replication: str = ""  # of the keyspace as found, e.g. "dc1:3"


@dataclass(frozen=True)
class Report:
    """The verdict of one run. ``ok`` is the property users and tests assert on."""

    writer_id: str
    keyspace: str
    table: str
    started_at: str
    duration_s: float
    write_consistency: str
    read_consistency: str
    replication: str
    attempted: int
    acked: int
    failed: int
    unknown: int
    found: int
    lost: int
    lost_sample: tuple[int, ...]
    unknown_found: int
    unverified: int
    corrupt: int
    unexpected: int
    failure_rate: float
    max_unavailable_s: float
    write_rate: float
    errors: tuple[tuple[str, int], ...]

    @property
    def availability(self) -> float:
        return 1.0 - self.failure_rate

    @property
    def ok(self) -> bool:
        """Nothing acknowledged went missing, and everything could be checked."""
        return self.lost == 0 and self.corrupt == 0 and self.unexpected == 0 and not self.unverified

    def summary(self) -> str:
        """One line for logs and terminals."""
        verdict = "OK" if self.ok else "FAIL"
        return (
            f"{verdict}: lost={self.lost} acked={self.acked}/{self.attempted} "
            f"failed={self.failed} unknown={self.unknown} ({self.unknown_found} found) "
            f"unverified={self.unverified} corrupt={self.corrupt} "
            f"availability={self.availability:.2%} max_unavailable={self.max_unavailable_s:.1f}s "
            f"duration={self.duration_s:.1f}s rate={self.write_rate:.0f}/s "
            f"write={self.write_consistency} read={self.read_consistency} rf={self.replication}"
        )

    MARKDOWN_HEADER = (
        "| lost | acked | attempted | failed | unknown | availability "
        "| max unavailable | duration | write rate |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )

    def markdown_row(self) -> str:
        """A row for `Report.MARKDOWN_HEADER`; prefix your own columns (scenario name) if needed."""
        return (
            f"| {self.lost} | {self.acked} | {self.attempted} | {self.failed} | {self.unknown} "
            f"| {self.availability:.2%} | {self.max_unavailable_s:.1f}s | {self.duration_s:.1f}s "
            f"| {self.write_rate:.0f}/s |"
        )

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["lost_sample"] = list(self.lost_sample)
        data["errors"] = dict(self.errors)
        data["availability"] = self.availability
        data["ok"] = self.ok
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


# --- accounting ----------------------------------------------------------------


@dataclass(frozen=True)
class Accounting:
    """Which sequence numbers fall in which bucket."""

    acked: frozenset[int]
    failed: frozenset[int]
    unknown: frozenset[int]
    lost: frozenset[int]
    unverified: frozenset[int]
    unexpected: frozenset[int]


def account(attempts: Iterable[Attempt], read: ReadBack) -> Accounting:
    """Sort every write into its bucket. lost = acked - found (minus the unreadable)."""
    by_outcome: dict[Outcome, set[int]] = {outcome: set() for outcome in Outcome}
    for attempt in attempts:
        by_outcome[attempt.outcome].add(attempt.seq)
    acked = frozenset(by_outcome[Outcome.ACKED])
    attempted = acked | by_outcome[Outcome.FAILED] | by_outcome[Outcome.UNKNOWN]
    return Accounting(
        acked=acked,
        failed=frozenset(by_outcome[Outcome.FAILED]),
        unknown=frozenset(by_outcome[Outcome.UNKNOWN]),
        lost=acked - read.found - read.unreadable,
        unverified=acked & read.unreadable,
        unexpected=read.found - attempted,
    )


def max_unavailable(attempts: Sequence[Attempt]) -> float:
    """The longest stretch of consecutive failed requests (in issue order), in seconds.

    A stretch runs from the issue of its first failed request to the completion
    of its last one, so one request that timed out after 10 s counts as 10 s.
    """
    longest = 0.0
    run_start: float | None = None
    run_end = 0.0
    for attempt in sorted(attempts, key=lambda a: (a.issued_at, a.seq)):
        if attempt.outcome is Outcome.ACKED:
            run_start = None
            continue
        if run_start is None:
            run_start, run_end = attempt.issued_at, attempt.completed_at
        run_end = max(run_end, attempt.completed_at)
        longest = max(longest, run_end - run_start)
    return longest


def error_counts(attempts: Iterable[Attempt]) -> tuple[tuple[str, int], ...]:
    counts = Counter(attempt.error for attempt in attempts if attempt.error)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def build_report(info: RunInfo, attempts: Sequence[Attempt], read: ReadBack) -> Report:
    """The report of one run, from the writer's attempts and the read-back."""
    books = account(attempts, read)
    attempted = len(attempts)
    not_acked = len(books.failed) + len(books.unknown)
    return Report(
        writer_id=info.writer_id,
        keyspace=info.keyspace,
        table=info.table,
        started_at=info.started_at,
        duration_s=info.duration_s,
        write_consistency=info.write_consistency,
        read_consistency=read.consistency,
        replication=info.replication,
        attempted=attempted,
        acked=len(books.acked),
        failed=len(books.failed),
        unknown=len(books.unknown),
        found=len(read.found),
        lost=len(books.lost),
        lost_sample=tuple(sorted(books.lost)[:LOST_SAMPLE]),
        unknown_found=len(books.unknown & read.found),
        unverified=len(books.unverified),
        corrupt=len(read.corrupt),
        unexpected=len(books.unexpected),
        failure_rate=not_acked / attempted if attempted else 0.0,
        max_unavailable_s=max_unavailable(attempts),
        write_rate=len(books.acked) / info.duration_s if info.duration_s > 0 else 0.0,
        errors=error_counts(attempts),
    )
