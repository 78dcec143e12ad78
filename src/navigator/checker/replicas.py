"""Per-replica verification: every row read from every replica that owns it, each alone.

A read at ALL or QUORUM is answered as long as one replica still has a row
(and read repair then quietly restores the others), so it cannot see a copy
that an operation lost. Here every partition of the writer is read from each
of its replicas separately:

1. *Owners*: the driver's token map (refreshed first) gives the replicas of
   each partition (``cluster.metadata.get_replicas``).
2. *Settle*: wait (bounded) until every owner is up and no node holds hints
   for one, so a replica that was down during the run has had its hints.
3. *Read*: one replica at a time, its partitions in parallel, each a
   host-targeted read at ONE (`REPLICA_PROFILE`: no driver retry, no
   speculative execution) whose coordinator is that replica. The answer's
   coordinator is checked, and so is the replica's own local-read counter
   (``system_views.local_read_latency``): it must have grown by at least the
   pages read, else some read was served by another replica and the replica
   is "could not verify".
4. *Recheck*: a replica that lacks rows is read again every few seconds
   until it lacks nothing or ``settle_timeout`` has passed: a hint may still
   sit in a coordinator's memory (buffers are flushed to hint files every
   ``hints_flush_period``, 10 s, and only files are listed as pending) or be
   in delivery (dispatch runs every 10 s). What it still lacks then is
   reported missing.

A replica that is down or whose reads fail is "could not verify", never
"ok". The result is pure data (`ReplicaRead`), judged in `report`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel  # type: ignore[import-untyped]

from navigator.checker.connection import REPLICA_PROFILE
from navigator.checker.report import ReadBack, ReplicaRead, merge_replica_reads
from navigator.checker.schema import Table, value_for

log = logging.getLogger(__name__)

PAGE_SIZE = 5000
LOCAL_READS = (
    "SELECT count FROM system_views.local_read_latency WHERE keyspace_name = %s AND table_name = %s"
)
PENDING_HINTS = "SELECT host_id, files FROM system_views.pending_hints"


@dataclass(frozen=True)
class ReplicaSettings:
    concurrency: int = 16  # partitions read in parallel from one replica
    attempts: int = 3  # per partition, always on the same replica
    retry_delay: float = 1.0  # seconds, times the attempt number
    timeout: float = 30.0  # per request
    settle_timeout: float = 60.0  # wait for owners up and hints delivered
    recheck_delay: float = 10.0  # between re-reads of a replica that lacks rows


@dataclass(frozen=True)
class PartitionRead:
    shard: int
    rows: dict[int, str] | None  # None: could not be read
    pages: int = 0
    error: str | None = None


def verify_replicas(
    session: Any,
    cluster: Any,
    table: Table,
    writer: uuid.UUID,
    attempted: Collection[int],
    acked: Collection[int],
    settings: ReplicaSettings | None = None,
) -> ReadBack:
    """Read ``writer``'s rows from every replica that owns them, each replica alone."""
    settings = settings or ReplicaSettings()
    reader = _Reader(session, table, writer, attempted, settings)
    owners = shard_owners(cluster, table, reader.statement, writer)
    hosts = sorted(owners, key=lambda host: host.address)
    _log_unsettled(settle(session, cluster, hosts, settings.settle_timeout))
    reads = {host: reader.read(host, owners[host]) for host in hosts}
    recheck(session, cluster, reader, owners, reads, frozenset(acked), settings)
    return merge_replica_reads([reads[host] for host in hosts], attempted)


def recheck(
    session: Any,
    cluster: Any,
    reader: _Reader,
    owners: dict[Any, list[int]],
    reads: dict[Any, ReplicaRead],
    acked: frozenset[int],
    settings: ReplicaSettings,
) -> None:
    """Read replicas that lack rows again, until they lack nothing or time is up.

    Hints are only listed as pending once flushed to a file, and a file being
    delivered is no longer listed, so `settle` cannot prove that nothing is on
    its way. A row is reported missing only once it was read again at least
    once and ``settle_timeout`` (covering two hint flush periods and two
    dispatch periods) has passed since the first read.
    """
    deadline = time.monotonic() + settings.settle_timeout
    short = [host for host in reads if reads[host].missing(acked)]
    while short:
        log.info(
            "%d replica(s) lack rows (%s); reading again in %.0fs",
            len(short),
            ", ".join(f"{host.address}: {len(reads[host].missing(acked))}" for host in short),
            settings.recheck_delay,
        )
        time.sleep(settings.recheck_delay)
        _log_unsettled(settle(session, cluster, list(reads), settings.settle_timeout))
        again = {host: reader.read(host, owners[host]) for host in short}
        reads.update(again)
        short = [host for host in short if again[host].missing(acked)]
        if time.monotonic() >= deadline:
            break


# --- owners and settling ---------------------------------------------------------


def shard_owners(
    cluster: Any, table: Table, statement: Any, writer: uuid.UUID
) -> dict[Any, list[int]]:
    """Replica host → the writer's shards (partitions) it owns, from a fresh token map."""
    try:
        cluster.refresh_nodes(force_token_rebuild=True)
    except Exception as err:  # the token map we have is still the best guess
        log.warning("could not refresh the token map: %r", err)
    owners: dict[Any, list[int]] = {}
    for shard in range(table.shards):
        routing_key = statement.bind((writer, shard)).routing_key
        for host in cluster.metadata.get_replicas(table.keyspace, routing_key):
            owners.setdefault(host, []).append(shard)
    return owners


def settle(session: Any, cluster: Any, hosts: Sequence[Any], timeout: float) -> list[str]:
    """Wait until every host is up and no node holds hints for one; what still is not, if any."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [f"{host.address} is down" for host in hosts if not host.is_up]
        waiting += pending_hints(session, cluster.metadata.all_hosts(), hosts)
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(1.0)


def pending_hints(session: Any, nodes: Iterable[Any], targets: Sequence[Any]) -> list[str]:
    """``"hints for B on A"`` for every up node A holding hint files for a target B."""
    by_id = {str(target.host_id): target.address for target in targets}
    pending = []
    for node in nodes:
        if not node.is_up:
            continue
        try:
            rows = session.execute(PENDING_HINTS, host=node, execution_profile=REPLICA_PROFILE)
        except Exception as err:  # Cassandra < 4.1 has no such table: nothing to wait for
            log.debug("pending hints on %s unknown: %r", node.address, err)
            continue
        for row in rows:
            target = by_id.get(str(row.host_id))
            if target is not None and (row.files or 0) > 0:
                pending.append(f"hints for {target} on {node.address}")
    return pending


def _log_unsettled(waiting: list[str]) -> None:
    if waiting:
        log.warning("verifying although not settled: %s", "; ".join(waiting))


# --- reading one replica -----------------------------------------------------------


class _Reader:
    """Reads the writer's partitions from one replica at a time."""

    def __init__(
        self,
        session: Any,
        table: Table,
        writer: uuid.UUID,
        attempted: Collection[int],
        settings: ReplicaSettings,
    ) -> None:
        self.session = session
        self.table = table
        self.writer = writer
        self.settings = settings
        self.statement = session.prepare(table.select_shard())
        self.statement.consistency_level = ConsistencyLevel.ONE
        self.statement.fetch_size = PAGE_SIZE
        self.statement.is_idempotent = False  # never speculated, whatever the profile says
        self.by_shard: dict[int, set[int]] = {}
        for seq in attempted:
            self.by_shard.setdefault(table.shard_of(seq), set()).add(seq)

    def read(self, host: Any, shards: Sequence[int]) -> ReplicaRead:
        began = time.monotonic()
        owned = frozenset().union(*(self.by_shard.get(shard, set()) for shard in shards))
        if not host.is_up:
            return ReplicaRead(
                host.address, str(host.host_id), owned, frozenset(), unreadable=owned, error="down"
            )
        before = local_reads(self.session, host, self.table)
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            parts = list(pool.map(lambda shard: self._partition(host, shard), shards))
        after = local_reads(self.session, host, self.table)
        result = self._judge(host, owned, parts, not_served_locally(before, after, parts))
        log.info(
            "replica %s: %d partitions, %d rows found, %s, in %.1fs",
            host.address,
            len(shards),
            len(result.found),
            result.error or "verified",
            time.monotonic() - began,
        )
        return result

    def _judge(
        self, host: Any, owned: frozenset[int], parts: list[PartitionRead], elsewhere: str | None
    ) -> ReplicaRead:
        found: dict[int, str] = {}
        for part in parts:
            found.update(part.rows or {})
        failed = [part for part in parts if part.rows is None]
        unreadable = {seq for part in failed for seq in self.by_shard.get(part.shard, set())}
        errors = (
            [f"{len(failed)} of {len(parts)} partitions unreadable ({failed[0].error})"]
            if failed
            else []
        )
        if elsewhere is not None:
            errors.append(elsewhere)
            unreadable = set(owned)  # its answers may be another replica's: they prove nothing
        writer = str(self.writer)
        return ReplicaRead(
            address=host.address,
            host_id=str(host.host_id),
            owned=owned,
            found=frozenset(found),
            corrupt=frozenset(
                seq for seq, value in found.items() if value != value_for(writer, seq)
            ),
            unreadable=frozenset(unreadable - found.keys()),
            error="; ".join(errors) or None,
        )

    def _partition(self, host: Any, shard: int) -> PartitionRead:
        error = ""
        for attempt in range(1, self.settings.attempts + 1):
            try:
                rows, pages = self._read_pages(host, shard)
                return PartitionRead(shard, rows, pages)
            except Exception as err:
                error = f"{type(err).__name__}: {err}"[:200]
                log.warning(
                    "reading shard %d on %s (attempt %d): %s", shard, host.address, attempt, error
                )
                if attempt < self.settings.attempts:
                    time.sleep(self.settings.retry_delay * attempt)
        return PartitionRead(shard, None, error=error)

    def _read_pages(self, host: Any, shard: int) -> tuple[dict[int, str], int]:
        result = self.session.execute(
            self.statement.bind((self.writer, shard)),
            host=host,
            execution_profile=REPLICA_PROFILE,
            timeout=self.settings.timeout,
        )
        rows = {int(row.seq): str(row.value) for row in result.current_rows}
        pages = 1
        while result.has_more_pages:
            result.fetch_next_page()
            rows.update((int(row.seq), str(row.value)) for row in result.current_rows)
            pages += 1
        coordinator = result.response_future.coordinator_host
        if coordinator != host:
            raise RuntimeError(f"answered by {coordinator}, not by {host.address}")
        return rows, pages


def local_reads(session: Any, host: Any, table: Table) -> int | None:
    """How many local reads of ``table`` ``host`` has served (None: unknown)."""
    try:
        row = session.execute(
            LOCAL_READS, (table.keyspace, table.name), host=host, execution_profile=REPLICA_PROFILE
        ).one()
    except Exception as err:  # no virtual tables (Cassandra < 4.0): cannot tell
        log.debug("local reads on %s unknown: %r", host.address, err)
        return None
    return int(row.count) if row is not None else None


def not_served_locally(
    before: int | None, after: int | None, parts: Sequence[PartitionRead]
) -> str | None:
    """Why the replica's reads were not all served by itself (None: they were, or it cannot tell).

    Every page of a single-partition read served by the replica adds one to
    its local-read count; one served by another replica does not.
    """
    if before is None or after is None:
        return None
    pages = sum(part.pages for part in parts if part.rows is not None)
    if after - before >= pages:
        return None
    return f"only {after - before} of {pages} reads were served by the replica itself"
