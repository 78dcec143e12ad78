"""The cluster-wide read-back: one writer's rows read at one consistency level.

Used only when a fixed ``read_consistency`` is asked for (the default
verification reads every replica alone, see `navigator.checker.replicas`).
One query per shard, each retried a few times. A shard that cannot be read at
all makes its rows *unverified*, never *lost*. It cannot tell which replica
lacks a row: a row one replica still has is returned (and, at ALL or QUORUM,
hides the copies that are gone).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from typing import Any

from cassandra.query import SimpleStatement  # type: ignore[import-untyped]

from navigator.checker.connection import consistency
from navigator.checker.report import ReadBack
from navigator.checker.schema import Table, value_for

log = logging.getLogger(__name__)

PAGE_SIZE = 5000


def _read_shard(
    session: Any, table: Table, writer: uuid.UUID, shard: int, level: str, timeout: float
) -> dict[int, str]:
    statement = SimpleStatement(
        table.select_shard().replace("?", "%s"),
        consistency_level=consistency(level),
        fetch_size=PAGE_SIZE,
        is_idempotent=True,
    )
    rows = session.execute(statement, (writer, shard), timeout=timeout)
    return {int(row.seq): str(row.value) for row in rows}


def read_shard(
    session: Any,
    table: Table,
    writer: uuid.UUID,
    shard: int,
    level: str,
    timeout: float,
    attempts: int = 3,
    retry_delay: float = 1.0,
) -> dict[int, str] | None:
    """The shard's rows, or None if every attempt failed."""
    for attempt in range(1, attempts + 1):
        try:
            return _read_shard(session, table, writer, shard, level, timeout)
        except Exception as err:
            log.warning(
                "reading shard %d at %s (attempt %d) failed: %r", shard, level, attempt, err
            )
            if attempt < attempts:
                time.sleep(retry_delay * attempt)
    return None


def read_back(
    session: Any,
    table: Table,
    writer: uuid.UUID,
    attempted: Collection[int],
    *,
    read_consistency: str = "ALL",
    timeout: float = 30.0,
    attempts: int = 3,
    retry_delay: float = 1.0,
) -> ReadBack:
    """Read every shard of ``writer`` at ``read_consistency``; check each row's value."""
    level = read_consistency.upper()
    found: set[int] = set()
    corrupt: set[int] = set()
    failed_shards: set[int] = set()
    for shard in range(table.shards):
        rows = read_shard(session, table, writer, shard, level, timeout, attempts, retry_delay)
        if rows is None:
            failed_shards.add(shard)
            continue
        found.update(rows)
        corrupt.update(seq for seq, value in rows.items() if value != value_for(str(writer), seq))
    unreadable = {seq for seq in attempted if table.shard_of(seq) in failed_shards}
    return ReadBack(
        found=frozenset(found),
        corrupt=frozenset(corrupt),
        unreadable=frozenset(unreadable),
        consistency=level,
    )
