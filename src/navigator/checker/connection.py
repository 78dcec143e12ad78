"""Connecting to Cassandra the way a careful application would.

Token-aware routing over the local DC, client timeouts, a retry policy that
moves on to the next host (every checker statement is idempotent), and quick
reconnection, so that losing one node for a moment costs few failed requests.
The driver has no type stubs; its objects stay ``Any`` inside this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel  # type: ignore[import-untyped]
from cassandra.cluster import (  # type: ignore[import-untyped]
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
)
from cassandra.policies import (  # type: ignore[import-untyped]
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    RetryPolicy,
    TokenAwarePolicy,
)

from navigator.checker.schema import Table


@dataclass(frozen=True)
class ConnectionSettings:
    port: int = 9042
    dc: str | None = None  # detected from the contact points when None
    request_timeout: float = 10.0
    connect_timeout: float = 10.0
    retries: int = 3
    protocol_version: int | None = None  # negotiated when None


def consistency(name: str) -> int:
    """``"QUORUM"`` → the driver's constant."""
    try:
        level: int = ConsistencyLevel.name_to_value[name.upper()]
    except KeyError:
        raise ValueError(f"unknown consistency level {name!r}") from None
    return level


class IdempotentRetryPolicy(RetryPolicy):  # type: ignore[misc]
    """Retry on the next host a few times after a timeout, an unavailable or a
    connection error. Safe only because every statement the checker sends is
    idempotent; a retry that succeeds is an acknowledged write."""

    def __init__(self, retries: int) -> None:
        super().__init__()
        self.retries = retries

    def _next(self, retry_num: int) -> tuple[int, None]:
        if retry_num < self.retries:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None

    def on_read_timeout(self, query: Any, *args: Any, retry_num: int = 0, **kw: Any) -> Any:
        return self._next(retry_num)

    def on_write_timeout(self, query: Any, *args: Any, retry_num: int = 0, **kw: Any) -> Any:
        return self._next(retry_num)

    def on_unavailable(self, query: Any, *args: Any, retry_num: int = 0, **kw: Any) -> Any:
        return self._next(retry_num)

    def on_request_error(self, query: Any, *args: Any, retry_num: int = 0, **kw: Any) -> Any:
        return self._next(retry_num)


def open_cluster(contact_points: Sequence[str], settings: ConnectionSettings) -> Any:
    """A driver ``Cluster`` (not yet connected) with the checker's policies."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.dc or "")),
        retry_policy=IdempotentRetryPolicy(settings.retries),
        request_timeout=settings.request_timeout,
    )
    options: dict[str, Any] = {}
    if settings.protocol_version is not None:
        options["protocol_version"] = settings.protocol_version
    return Cluster(
        list(contact_points),
        port=settings.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=settings.connect_timeout,
        reconnection_policy=ConstantReconnectionPolicy(delay=1.0, max_attempts=None),
        **options,
    )


def local_dc(session: Any) -> str:
    """The datacenter of the node the session's control connection uses."""
    row = session.execute("SELECT data_center FROM system.local").one()
    dc: str = row.data_center
    return dc


def ensure_schema(session: Any, table: Table, *, dc: str, replication_factor: int) -> None:
    """Create the keyspace (NetworkTopologyStrategy, {dc: rf}) and table if missing."""
    session.execute(table.create_keyspace(dc, replication_factor), timeout=60)
    session.execute(table.create_table(), timeout=60)


def replication(session: Any, keyspace: str) -> str:
    """The keyspace's replication as ``dc:rf[,dc:rf]`` (or the strategy's own settings)."""
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    settings = {k: v for k, v in dict(row.replication).items() if k != "class"}
    return ",".join(f"{k}:{v}" for k, v in sorted(settings.items()))


def all_hosts_up(cluster: Any) -> bool:
    return all(host.is_up for host in cluster.metadata.all_hosts())
