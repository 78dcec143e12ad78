"""Reading one writer's rows back after the operation.

One query per shard, each retried a few times. With ``AUTO`` the reads go at
ALL when every node is up (the strongest check: a row on any replica is
returned) and at QUORUM otherwise, or when ALL keeps failing for a shard. A
shard that cannot be read at all makes its rows *unverified*, never *lost*.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from cassandra.query import SimpleStatement  # type: ignore[import-untyped]

from navigator.checker.connection import all_hosts_up, consistency
from navigator.checker.report import ReadBack
from navigator.checker.schema import Table, value_for

log = logging.getLogger(__name__)

AUTO = "AUTO"
PAGE_SIZE = 5000


def read_levels(requested: str, cluster: Any) -> list[str]:
    """The levels to try, strongest first."""
    if requested.upper() != AUTO:
        return [requested.upper()]
    return ["ALL", "QUORUM"] if all_hosts_up(cluster) else ["QUORUM"]


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
    levels: Sequence[str],
    timeout: float,
    attempts: int = 3,
    retry_delay: float = 1.0,
) -> tuple[dict[int, str], str] | None:
    """The shard's rows and the level that read them, or None if every attempt failed."""
    for level in levels:
        for attempt in range(1, attempts + 1):
            try:
                return _read_shard(session, table, writer, shard, level, timeout), level
            except Exception as err:
                log.warning(
                    "reading shard %d at %s (attempt %d) failed: %r", shard, level, attempt, err
                )
                time.sleep(retry_delay * attempt)
    return None


def read_back(
    session: Any,
    cluster: Any,
    table: Table,
    writer: uuid.UUID,
    attempted: Collection[int],
    *,
    read_consistency: str = AUTO,
    timeout: float = 30.0,
    attempts: int = 3,
    retry_delay: float = 1.0,
) -> ReadBack:
    """Read every shard of ``writer`` and compare each row with what was written."""
    levels = read_levels(read_consistency, cluster)
    found: set[int] = set()
    corrupt: set[int] = set()
    failed_shards: set[int] = set()
    used: set[str] = set()
    for shard in range(table.shards):
        result = read_shard(session, table, writer, shard, levels, timeout, attempts, retry_delay)
        if result is None:
            failed_shards.add(shard)
            continue
        rows, level = result
        used.add(level)
        found.update(rows)
        corrupt.update(seq for seq, value in rows.items() if value != value_for(str(writer), seq))
    unreadable = {seq for seq in attempted if table.shard_of(seq) in failed_shards}
    return ReadBack(
        found=frozenset(found),
        corrupt=frozenset(corrupt),
        unreadable=frozenset(unreadable),
        consistency=weakest(used, levels),
    )


def weakest(used: Collection[str], levels: Sequence[str]) -> str:
    """The weakest level that actually served a read (levels are strongest first)."""
    for level in reversed(levels):
        if level in used:
            return level
    return "-"
