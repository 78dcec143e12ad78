"""The checker's table and the rules for what a row holds (pure: strings and arithmetic).

One row per write, identified by the writer (a UUID per run) and a sequence
number. Rows of one writer are spread over ``shards`` partitions
(``seq % shards``) so they land on every part of the ring, yet the read-back
needs only one query per shard and never scans other runs' data.

The table never lets a read reach a second replica on its own
(``speculative_retry = 'NONE'``) nor repair what it reads
(``read_repair = 'NONE'``): per-replica verification reads each replica alone
and must see exactly what that replica holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_KEYSPACE = "navigator_check"
DEFAULT_TABLE = "writes"
DEFAULT_SHARDS = 64

# Table options per-replica verification relies on (as system_schema.tables shows them).
TABLE_OPTIONS = {"speculative_retry": "NONE", "read_repair": "NONE"}

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def check_identifier(name: str) -> str:
    """Keyspace and table names are interpolated into CQL: accept only plain ones."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case CQL identifier")
    return name


@dataclass(frozen=True)
class Table:
    keyspace: str = DEFAULT_KEYSPACE
    name: str = DEFAULT_TABLE
    shards: int = DEFAULT_SHARDS

    def __post_init__(self) -> None:
        check_identifier(self.keyspace)
        check_identifier(self.name)
        if self.shards < 1:
            raise ValueError("shards must be at least 1")

    @property
    def qualified(self) -> str:
        return f"{self.keyspace}.{self.name}"

    def create_keyspace(self, dc: str, replication_factor: int) -> str:
        return (
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
            f"{{'class': 'NetworkTopologyStrategy', '{dc}': {replication_factor}}}"
        )

    def create_table(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualified} ("
            "writer uuid, shard int, seq bigint, value text, "
            "PRIMARY KEY ((writer, shard), seq)) WITH " + self._options()
        )

    def alter_options(self) -> str:
        return f"ALTER TABLE {self.qualified} WITH " + self._options()

    def _options(self) -> str:
        return " AND ".join(f"{name} = '{value}'" for name, value in TABLE_OPTIONS.items())

    def insert(self) -> str:
        # Idempotent: a retried INSERT of the same row writes the same value.
        return f"INSERT INTO {self.qualified} (writer, shard, seq, value) VALUES (?, ?, ?, ?)"

    def select_shard(self) -> str:
        return f"SELECT seq, value FROM {self.qualified} WHERE writer = ? AND shard = ?"

    def shard_of(self, seq: int) -> int:
        return seq % self.shards


def value_for(writer: str, seq: int) -> str:
    """What row ``seq`` must contain; a different value read back is corruption."""
    return f"{writer}:{seq}"
