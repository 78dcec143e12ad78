"""Pure accounting for one checker run: what was written, what each replica holds, the verdict.

Nothing here talks to Cassandra. The writer records one `Attempt` per
request and the verification produces a `ReadBack` (with one `ReplicaRead`
per replica when every replica was read alone); `build_report` turns both
into a frozen `Report`. Keeping this pure lets the rules that decide "lost"
be tested exhaustively without a database:

- an acknowledged write is one whose driver future returned success;
- a write is *lost* only if it was acknowledged and every replica that owns
  it was read and none returned it;
- an acknowledged row that one replica lacks while another has it is
  *missing on that replica*: not lost, but the run fails (a copy is gone);
- an acknowledged row held by fewer replicas than its write level waited
  for is *under-replicated*: copies that were acknowledged are gone, which
  no crash of a single process explains (a lost hint leaves the row on the
  replicas that acknowledged it). Scenarios that SIGKILL a node may accept
  *missing on a replica* (Cassandra loses the hints a killed coordinator
  had not flushed yet; repair restores them) but never this;
- a timeout (or any other error after which the write may or may not have
  been applied) is *unknown*: reported, never counted as lost;
- a read that failed proves nothing, so acked rows it should have returned
  are *unverified*, not lost, and a replica that could not be read is
  reported as such (the run is not ok).

The verdict is a list of named rules (`VERDICT_RULES`); `Report.failures`
names each one that failed and says why.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise

from navigator.checker.consistency import durability_problem, replicas_required

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
# Errors that mean "no answer in time": the server's timeouts, the client's,
# and requests still unanswered when the writer stopped.
TIMEOUTS = frozenset({"WriteTimeout", "ReadTimeout", "OperationTimedOut", "NoResponse"})


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


def is_timeout(error_class: str, causes: Iterable[str] = ()) -> bool:
    """The request got no answer in time (itself, or on one of the hosts a wrapper tried)."""
    return error_class in TIMEOUTS or any(cause in TIMEOUTS for cause in causes)


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
    timed_out: bool = False  # the error was a timeout (see `TIMEOUTS`)
    coordinator: str = ""  # the node that coordinated it ('' if unknown)


@dataclass(frozen=True)
class ReplicaRead:
    """What one replica, read alone, holds of the rows it owns."""

    address: str
    host_id: str
    owned: frozenset[int]  # attempted rows whose partition this replica owns
    found: frozenset[int]  # rows it returned
    corrupt: frozenset[int] = frozenset()  # rows it returned with a wrong value
    unreadable: frozenset[int] = frozenset()  # owned rows whose read failed here
    error: str | None = None  # why (part of) it could not be verified

    @property
    def verified(self) -> bool:
        return self.error is None and not self.unreadable

    def missing(self, acked: frozenset[int]) -> frozenset[int]:
        """Acked rows it owns, could read, and does not have."""
        return (acked & self.owned) - self.found - self.unreadable


@dataclass(frozen=True)
class ReadBack:
    """What the verification saw, as sequence numbers of this writer's rows."""

    found: frozenset[int]
    # Rows returned whose value is not the one written.
    corrupt: frozenset[int] = frozenset()
    # Rows that could be neither found nor proven missing (a read failed).
    unreadable: frozenset[int] = frozenset()
    consistency: str = "ALL"
    # One per replica when every replica was read alone; empty for a cluster-wide read.
    replicas: tuple[ReplicaRead, ...] = ()


def merge_replica_reads(reads: Sequence[ReplicaRead], attempted: Iterable[int]) -> ReadBack:
    """The cluster's view from per-replica reads: a row is found if any replica has it.

    A row none has is unreadable (not lost) if some replica that owns it could
    not be read, or if no replica was known to own it at all.
    """
    found = frozenset().union(*(r.found for r in reads))
    owned = frozenset().union(*(r.owned for r in reads))
    unreadable = frozenset().union(*(r.unreadable for r in reads)) | (set(attempted) - owned)
    return ReadBack(
        found=found,
        corrupt=frozenset().union(*(r.corrupt for r in reads)),
        unreadable=frozenset(unreadable - found),
        consistency="EACH_REPLICA",
        replicas=tuple(reads),
    )


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
    replication_asked: str = ""  # as asked, e.g. "dc1:3" ("": not checked)
    replication_factor: int = 0  # replicas per row in the checked DC, as found (0: unknown)
    verify_s: float = 0.0  # how long the verification took


@dataclass(frozen=True)
class Failure:
    """One verdict rule that failed: its name (see `VERDICT_RULES`) and why."""

    rule: str
    message: str


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
    timed_out: int = 0
    max_gap_s: float = 0.0
    replication_asked: str = ""
    replicas_checked: int = 0
    missing_by_replica: dict[str, int] = field(default_factory=dict)
    missing_sample_by_replica: dict[str, tuple[int, ...]] = field(default_factory=dict)
    unverified_replicas: dict[str, str] = field(default_factory=dict)
    replica_host_ids: dict[str, str] = field(default_factory=dict)
    verify_s: float = 0.0
    under_replicated: int = 0
    under_replicated_sample: tuple[int, ...] = ()
    # Replica → coordinator → acked rows missing on that replica which that
    # node coordinated: where a missing copy came from (e.g. a node killed or
    # drained while it coordinated writes).
    missing_coordinated_by: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: tuple[Failure, ...] = ()

    @property
    def availability(self) -> float:
        return 1.0 - self.failure_rate

    @property
    def missing_on_replicas(self) -> int:
        """Acked row copies missing, summed over replicas."""
        return sum(self.missing_by_replica.values())

    @property
    def ok(self) -> bool:
        """No verdict rule failed: something was acknowledged, the levels can prove
        durability, and every acked row is on every replica that owns it."""
        return not self.failures

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f"{f.rule}: {f.message}" for f in self.failures)

    def summary(self) -> str:
        """One line for logs and terminals."""
        verdict = "OK" if self.ok else "FAIL"
        line = (
            f"{verdict}: lost={self.lost} acked={self.acked}/{self.attempted} "
            f"missing_on_replicas={self.missing_on_replicas} "
            f"under_replicated={self.under_replicated} "
            f"replicas_checked={self.replicas_checked} "
            f"failed={self.failed} unknown={self.unknown} ({self.unknown_found} found) "
            f"timed_out={self.timed_out} unverified={self.unverified} corrupt={self.corrupt} "
            f"availability={self.availability:.2%} max_unavailable={self.max_unavailable_s:.1f}s "
            f"max_gap={self.max_gap_s:.1f}s duration={self.duration_s:.1f}s "
            f"rate={self.write_rate:.0f}/s verify={self.verify_s:.1f}s "
            f"write={self.write_consistency} read={self.read_consistency} rf={self.replication}"
        )
        if self.missing_coordinated_by:
            line += " | missing, by coordinator: " + "; ".join(
                f"{replica} ← " + ", ".join(f"{c or '?'}: {n}" for c, n in sorted(by.items()))
                for replica, by in sorted(self.missing_coordinated_by.items())
            )
        return f"{line} | {'; '.join(self.reasons)}" if self.failures else line

    MARKDOWN_HEADER = (
        "| lost | missing on a replica | replicas checked | acked | attempted | failed "
        "| unknown | availability | max unavailable | longest gap | duration | write rate |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )

    def markdown_row(self) -> str:
        """A row for `Report.MARKDOWN_HEADER`; prefix your own columns (scenario name) if needed."""
        return (
            f"| {self.lost} | {self.missing_on_replicas} | {self.replicas_checked} "
            f"| {self.acked} | {self.attempted} | {self.failed} | {self.unknown} "
            f"| {self.availability:.2%} | {self.max_unavailable_s:.1f}s | {self.max_gap_s:.1f}s "
            f"| {self.duration_s:.1f}s | {self.write_rate:.0f}/s |"
        )

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["lost_sample"] = list(self.lost_sample)
        data["under_replicated_sample"] = list(self.under_replicated_sample)
        data["errors"] = dict(self.errors)
        data["missing_sample_by_replica"] = {
            replica: list(sample) for replica, sample in self.missing_sample_by_replica.items()
        }
        data["failures"] = [asdict(failure) for failure in self.failures]
        data["availability"] = self.availability
        data["missing_on_replicas"] = self.missing_on_replicas
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


@dataclass(frozen=True)
class ReplicaAccounting:
    """Per replica (by address): acked rows missing, and replicas that could not be verified."""

    missing: dict[str, frozenset[int]]
    unverified: dict[str, str]
    host_ids: dict[str, str]

    @property
    def checked(self) -> int:
        return len(self.missing) - len(self.unverified)


def account_replicas(acked: frozenset[int], replicas: Iterable[ReplicaRead]) -> ReplicaAccounting:
    missing: dict[str, frozenset[int]] = {}
    unverified: dict[str, str] = {}
    host_ids: dict[str, str] = {}
    for replica in replicas:
        missing[replica.address] = replica.missing(acked)
        host_ids[replica.address] = replica.host_id
        if not replica.verified:
            unread = len(replica.unreadable & acked)
            unverified[replica.address] = replica.error or f"{unread} acked rows unreadable"
    return ReplicaAccounting(missing, unverified, host_ids)


def under_replicated(
    acked: frozenset[int], replicas: Sequence[ReplicaRead], needed: int
) -> frozenset[int]:
    """Acked rows that fewer than ``needed`` replicas hold, counting a replica whose
    read failed as holding it (unproven is not missing). Empty without per-replica reads."""
    if not replicas or needed < 1:
        return frozenset()
    held: Counter[int] = Counter()
    owners: Counter[int] = Counter()
    for replica in replicas:
        mine = acked & replica.owned
        owners.update(mine)
        held.update(mine & (replica.found | replica.unreadable))
    # A row owned by fewer replicas than needed (a token map mid-change) is judged
    # against its owners: it cannot be asked to be where no replica owns it.
    return frozenset(seq for seq, n in owners.items() if held[seq] < min(needed, n))


def coordinated_by(
    attempts: Iterable[Attempt], missing: dict[str, frozenset[int]]
) -> dict[str, dict[str, int]]:
    """Replica → coordinator → how many of the rows missing on it that node coordinated."""
    short = {replica: rows for replica, rows in missing.items() if rows}
    if not short:
        return {}
    coordinator = {a.seq: a.coordinator for a in attempts}
    return {
        replica: dict(Counter(coordinator.get(seq, "") for seq in rows))
        for replica, rows in short.items()
    }


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


def max_gap(attempts: Sequence[Attempt], end: float) -> float:
    """The longest time without a successful write, in seconds.

    Measured between the completions of consecutive acknowledged writes, from
    the first request's issue to the first ack, and from the last ack to
    ``end`` (when the writer stopped). No ack at all: the whole run.
    """
    if not attempts:
        return 0.0
    start = min(a.issued_at for a in attempts)
    acks = sorted(a.completed_at for a in attempts if a.outcome is Outcome.ACKED)
    points = [start, *acks, max(end, acks[-1] if acks else start)]
    return max(later - earlier for earlier, later in pairwise(points))


def error_counts(attempts: Iterable[Attempt]) -> tuple[tuple[str, int], ...]:
    counts = Counter(attempt.error for attempt in attempts if attempt.error)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def build_report(info: RunInfo, attempts: Sequence[Attempt], read: ReadBack) -> Report:
    """The report of one run, from the writer's attempts and the verification."""
    books = account(attempts, read)
    per_replica = account_replicas(books.acked, read.replicas)
    try:
        needed = replicas_required(info.write_consistency, info.replication_factor)
    except ValueError:  # judged by the consistency-too-weak rule
        needed = 0
    thin = under_replicated(books.acked - books.lost, read.replicas, needed)
    attempted = len(attempts)
    not_acked = len(books.failed) + len(books.unknown)
    report = Report(
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
        timed_out=sum(1 for a in attempts if a.timed_out),
        max_gap_s=max_gap(attempts, info.duration_s),
        replication_asked=info.replication_asked,
        replicas_checked=per_replica.checked,
        missing_by_replica={r: len(rows) for r, rows in per_replica.missing.items()},
        missing_sample_by_replica={
            r: tuple(sorted(rows)[:LOST_SAMPLE]) for r, rows in per_replica.missing.items() if rows
        },
        unverified_replicas=per_replica.unverified,
        replica_host_ids=per_replica.host_ids,
        verify_s=info.verify_s,
        under_replicated=len(thin),
        under_replicated_sample=tuple(sorted(thin)[:LOST_SAMPLE]),
        missing_coordinated_by=coordinated_by(attempts, per_replica.missing),
    )
    return replace(report, failures=judge(report, info))


# --- the verdict ---------------------------------------------------------------

Rule = Callable[[Report, RunInfo], "str | None"]


def _nothing_acknowledged(r: Report, _info: RunInfo) -> str | None:
    if r.acked:
        return None
    return f"no write was acknowledged ({r.attempted} attempted): there is nothing to verify"


def _replication_mismatch(r: Report, info: RunInfo) -> str | None:
    if not info.replication_asked or info.replication == info.replication_asked:
        return None
    return (
        f"keyspace {r.keyspace} has replication {info.replication or 'unknown'}, "
        f"not {info.replication_asked} as asked"
    )


def _consistency_too_weak(r: Report, info: RunInfo) -> str | None:
    try:
        return durability_problem(r.write_consistency, r.read_consistency, info.replication_factor)
    except ValueError as err:  # e.g. no read succeeded, so no level served one
        return str(err)


def _lost(r: Report, _info: RunInfo) -> str | None:
    if not r.lost:
        return None
    return f"{r.lost} acked rows are on no replica (first: {list(r.lost_sample)})"


def _missing_on_replica(r: Report, _info: RunInfo) -> str | None:
    short = {replica: n for replica, n in sorted(r.missing_by_replica.items()) if n}
    if not short:
        return None
    listed = ", ".join(f"{replica}: {n}" for replica, n in short.items())
    return f"acked rows missing on a replica that owns them ({listed})"


def _under_replicated(r: Report, _info: RunInfo) -> str | None:
    if not r.under_replicated:
        return None
    return (
        f"{r.under_replicated} acked rows are held by fewer replicas than {r.write_consistency} "
        f"acknowledged (first: {list(r.under_replicated_sample)})"
    )


def _replica_unverified(r: Report, _info: RunInfo) -> str | None:
    if not r.unverified_replicas:
        return None
    listed = "; ".join(
        f"{replica}: {why}" for replica, why in sorted(r.unverified_replicas.items())
    )
    return f"could not verify {len(r.unverified_replicas)} replica(s) ({listed})"


def _unverified(r: Report, _info: RunInfo) -> str | None:
    if not r.unverified:
        return None
    return f"{r.unverified} acked rows could not be read back from any replica that owns them"


def _corrupt(r: Report, _info: RunInfo) -> str | None:
    return f"{r.corrupt} rows read back with a value that was not written" if r.corrupt else None


def _unexpected(r: Report, _info: RunInfo) -> str | None:
    return f"{r.unexpected} rows found that were never written" if r.unexpected else None


VERDICT_RULES: tuple[tuple[str, Rule], ...] = (
    ("nothing-acknowledged", _nothing_acknowledged),
    ("replication-mismatch", _replication_mismatch),
    ("consistency-too-weak", _consistency_too_weak),
    ("lost", _lost),
    ("under-replicated", _under_replicated),
    ("missing-on-replica", _missing_on_replica),
    ("replica-unverified", _replica_unverified),
    ("unverified", _unverified),
    ("corrupt", _corrupt),
    ("unexpected", _unexpected),
)


def judge(report: Report, info: RunInfo) -> tuple[Failure, ...]:
    """Every rule of `VERDICT_RULES` that fails, in order."""
    failures = []
    for name, rule in VERDICT_RULES:
        message = rule(report, info)
        if message is not None:
            failures.append(Failure(name, message))
    return tuple(failures)
