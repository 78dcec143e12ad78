"""Connecting to Cassandra the way a careful application would, and reading one replica alone.

Writes: token-aware routing over the local DC, client timeouts, a retry
policy that moves on to the next host (every checker statement is
idempotent), and quick reconnection, so that losing one node for a moment
costs few failed requests.

Per-replica reads use `REPLICA_PROFILE`: the request is sent to one host
(``host=``), the retry policy never retries (the caller retries, on the same
host) and there is no speculative execution, so no answer can come from
another coordinator. The table is created with ``speculative_retry = 'NONE'``
so the coordinator does not ask a second replica either, and with
``read_repair = 'NONE'`` so reading never heals what the checker measures.
The driver has no type stubs; its objects stay ``Any`` inside this package.

TLS (``ssl_ca``): the members' certificates are verified against the given CA,
but not their host names (see `ssl_context_for`).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassandra import ConsistencyLevel  # type: ignore[import-untyped]
from cassandra.auth import PlainTextAuthProvider  # type: ignore[import-untyped]
from cassandra.cluster import (  # type: ignore[import-untyped]
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
)
from cassandra.policies import (  # type: ignore[import-untyped]
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    FallthroughRetryPolicy,
    NoSpeculativeExecutionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
)

from navigator.checker.consistency import Replication
from navigator.checker.schema import TABLE_OPTIONS, Table

REPLICA_PROFILE = "navigator-replica"
SCHEMA_AGREEMENT_WAIT_S = 60


@dataclass(frozen=True)
class ConnectionSettings:
    port: int = 9042
    dc: str | None = None  # detected from the contact points when None
    request_timeout: float = 10.0
    connect_timeout: float = 10.0
    retries: int = 3
    protocol_version: int | None = None  # negotiated when None
    # Login (PasswordAuthenticator); None: connect without credentials.
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # PEM file of the CA that signed the members' certificates: connect over TLS
    # and verify them against it. None: plain connections.
    ssl_ca: Path | None = None


def ssl_context_for(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only the CAs in ``ca_file`` (PEM) and
    requires every member to present a certificate they signed.

    Raises ``ValueError`` when the file is missing, unreadable or holds no
    certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The chain is verified, the host name is not: the checker connects to
    # members by pod IP (the addresses the driver discovers), while a member's
    # certificate names its DNS names, so a host name check would refuse every
    # member. Set before verify_mode: PROTOCOL_TLS_CLIENT starts with both on.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=ca_file)
    except OSError as err:  # missing, unreadable, a directory, or not PEM (ssl.SSLError)
        reason = err.strerror or str(err)
        raise ValueError(f"cannot load CA certificates from {ca_file}: {reason}") from err
    return context


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


def _routing(settings: ConnectionSettings) -> Any:
    return TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.dc or ""))


def open_cluster(contact_points: Sequence[str], settings: ConnectionSettings) -> Any:
    """A driver ``Cluster`` (not yet connected) with the checker's policies."""
    profile = ExecutionProfile(
        load_balancing_policy=_routing(settings),
        retry_policy=IdempotentRetryPolicy(settings.retries),
        request_timeout=settings.request_timeout,
    )
    # Same routing (so the same hosts get connection pools), but requests are
    # host-targeted, never retried by the driver and never speculated.
    replica = ExecutionProfile(
        load_balancing_policy=_routing(settings),
        retry_policy=FallthroughRetryPolicy(),
        speculative_execution_policy=NoSpeculativeExecutionPolicy(),
        consistency_level=ConsistencyLevel.ONE,
        request_timeout=settings.request_timeout,
    )
    options: dict[str, Any] = {}
    if settings.protocol_version is not None:
        options["protocol_version"] = settings.protocol_version
    if settings.username is not None:
        options["auth_provider"] = PlainTextAuthProvider(
            username=settings.username, password=settings.password or ""
        )
    if settings.ssl_ca is not None:
        options["ssl_context"] = ssl_context_for(settings.ssl_ca)
    return Cluster(
        list(contact_points),
        port=settings.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile, REPLICA_PROFILE: replica},
        connect_timeout=settings.connect_timeout,
        reconnection_policy=ConstantReconnectionPolicy(delay=1.0, max_attempts=None),
        # The driver waits after each DDL until every node has the schema (10 s
        # by default): a replica that does not know the table yet drops its
        # writes, and a hint for a table it does not know is dropped on delivery.
        max_schema_agreement_wait=SCHEMA_AGREEMENT_WAIT_S,
        **options,
    )


def local_dc(session: Any) -> str:
    """The datacenter of the node the session's control connection uses."""
    row = session.execute("SELECT data_center FROM system.local").one()
    dc: str = row.data_center
    return dc


def ensure_schema(session: Any, table: Table, *, dc: str, replication_factor: int) -> None:
    """Create the keyspace (NetworkTopologyStrategy, {dc: rf}) and table if missing,
    and give an existing table the options per-replica reads rely on."""
    session.execute(table.create_keyspace(dc, replication_factor), timeout=60)
    session.execute(table.create_table(), timeout=60)
    if table_options(session, table) != TABLE_OPTIONS:
        session.execute(table.alter_options(), timeout=60)


def table_options(session: Any, table: Table) -> dict[str, str]:
    """The table's current values of the options in `TABLE_OPTIONS`."""
    row = session.execute(
        "SELECT speculative_retry, read_repair FROM system_schema.tables "
        "WHERE keyspace_name = %s AND table_name = %s",
        (table.keyspace, table.name),
    ).one()
    if row is None:
        return {}
    # Cassandra shows speculative_retry 'NONE' as "NEVER".
    speculative = "NONE" if str(row.speculative_retry).upper() == "NEVER" else row.speculative_retry
    return {"speculative_retry": str(speculative), "read_repair": str(row.read_repair)}


def replication(session: Any, keyspace: str) -> Replication:
    """The keyspace's replication as ``system_schema`` has it."""
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    return Replication.from_schema(dict(row.replication) if row else {})


def all_hosts_up(cluster: Any) -> bool:
    return all(host.is_up for host in cluster.metadata.all_hosts())
