"""A real 3-node Cassandra cluster: ring health, consistency, crash and decommission.

The tests share one cluster and run in file order: crash-restart needs all
three nodes, decommission leaves two.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from cassandra.query import SimpleStatement

from navigator.testing.cassandra import CassandraCluster, parse_status, wait_for_states

pytestmark = pytest.mark.e2e

ROWS = 100


@pytest.fixture(scope="module")
def session(cassandra: CassandraCluster) -> Iterator[Session]:
    cluster = Cluster(cassandra.addresses, protocol_version=5, connect_timeout=20)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def write(session: Session, start: int, stop: int) -> None:
    insert = SimpleStatement(
        "INSERT INTO nav.kv (k, v) VALUES (%s, %s)", consistency_level=ConsistencyLevel.QUORUM
    )
    for k in range(start, stop):
        session.execute(insert, (k, f"value-{k}"))


def read_all(session: Session, level: int) -> dict[int, str]:
    select = SimpleStatement("SELECT k, v FROM nav.kv", consistency_level=level)
    return {row.k: row.v for row in session.execute(select, timeout=60)}


def expected(stop: int) -> dict[int, str]:
    return {k: f"value-{k}" for k in range(stop)}


@pytest.mark.timeout(900)
def test_three_nodes_up_normal(cassandra: CassandraCluster) -> None:
    states = wait_for_states(cassandra, cassandra.nodes[0], cassandra.addresses)
    assert states == dict.fromkeys(cassandra.addresses, "UN")


@pytest.mark.timeout(300)
def test_rf3_writes_at_quorum_read_at_all(session: Session) -> None:
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS nav WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    )
    session.execute("CREATE TABLE IF NOT EXISTS nav.kv (k int PRIMARY KEY, v text)")
    write(session, 0, ROWS)
    assert read_all(session, ConsistencyLevel.ALL) == expected(ROWS)


@pytest.mark.timeout(600)
def test_sigkill_and_restart_on_same_data_dir(
    cassandra: CassandraCluster, session: Session
) -> None:
    victim = cassandra.nodes[1]
    cassandra.kill(victim)
    wait_for_states(cassandra, cassandra.nodes[0], [victim.address], state="DN")
    write(session, ROWS, 2 * ROWS)  # QUORUM still holds with two of three
    cassandra.start(victim)
    wait_for_states(cassandra, cassandra.nodes[0], cassandra.addresses)
    assert read_all(session, ConsistencyLevel.ALL) == expected(2 * ROWS)


@pytest.mark.timeout(900)
def test_decommission_keeps_data_readable_at_quorum(
    cassandra: CassandraCluster, session: Session
) -> None:
    leaving, *remaining = reversed(cassandra.nodes)
    # RF=3 on what becomes two nodes: Cassandra asks for --force to allow that.
    cassandra.nodetool(leaving, "decommission", "--force", timeout=600)
    assert "DECOMMISSIONED" in cassandra.nodetool(leaving, "netstats")
    cassandra.stop(leaving)
    states = parse_status(cassandra.nodetool(remaining[0], "status"))
    assert states == {node.address: "UN" for node in remaining}
    assert read_all(session, ConsistencyLevel.QUORUM) == expected(2 * ROWS)
