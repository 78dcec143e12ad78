"""The data checker against a real 3-node Cassandra cluster.

Four claims: a healthy cluster loses and fails nothing; a node killed with
SIGKILL and restarted during writes loses no acknowledged write; the checker
does report loss when acknowledged rows really are gone (a checker that cannot
fail proves nothing); and with a node down it reports the failed requests and
refuses to pass rows it could not read back. The tests share one cluster, in
file order; the last one leaves a node down.
Run with ``-s`` to see the reports and the measured write rates.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement

from navigator.checker import DataChecker, Outcome, Report, Settings
from navigator.checker.schema import Table
from navigator.testing.cassandra import CassandraCluster, wait_for_states

pytestmark = pytest.mark.e2e

RATE = 200.0  # writes/s asked for; the reports say what was achieved


def show(scenario: str, report: Report) -> None:
    print(f"\n[{scenario}] {report.summary()}")
    header = Report.MARKDOWN_HEADER.splitlines()[0]
    print(f"[{scenario}] {header}\n[{scenario}] {report.markdown_row()}")


@pytest.mark.timeout(1800)
def test_healthy_cluster_loses_and_fails_nothing(cassandra: CassandraCluster) -> None:
    wait_for_states(cassandra, cassandra.nodes[0], cassandra.addresses)
    with DataChecker(cassandra.addresses, Settings(rate=RATE)) as checker:
        time.sleep(20)
    report = checker.verify()
    show("healthy", report)
    assert report.ok, report.summary()
    assert report.lost == report.failed == report.unknown == 0
    assert report.found == report.acked == report.attempted > 0.8 * RATE * 20
    assert report.read_consistency == "ALL"
    assert report.availability == 1.0


@pytest.mark.timeout(300)
def test_write_rate_ceiling(cassandra: CassandraCluster) -> None:
    """How fast one checker can write here (the driver is pure Python; 2 cores are shared)."""
    with DataChecker(cassandra.addresses, Settings(rate=5000, concurrency=128)) as checker:
        time.sleep(15)
    report = checker.verify()
    show("ceiling", report)
    assert report.ok, report.summary()


@pytest.mark.timeout(900)
def test_sigkill_and_restart_of_one_node_loses_no_acknowledged_write(
    cassandra: CassandraCluster,
) -> None:
    victim = cassandra.nodes[1]
    with DataChecker(cassandra.addresses, Settings(rate=RATE)) as checker:
        checker.wait_for_acks(500)
        cassandra.kill(victim)
        wait_for_states(cassandra, cassandra.nodes[0], [victim.address], state="DN")
        checker.wait_for_acks(500)  # QUORUM holds with two of three
        restart_s = cassandra.start(victim)
        wait_for_states(cassandra, cassandra.nodes[0], cassandra.addresses)
        checker.wait_for_acks(500)
    report = checker.verify()
    show("sigkill", report)
    print(f"[sigkill] {victim.name} restarted in {restart_s:.0f}s")
    assert report.lost == 0, report.summary()
    assert report.ok, report.summary()
    assert report.read_consistency == "ALL"
    assert 0.0 <= report.failure_rate < 0.05


@pytest.mark.timeout(600)
def test_checker_reports_acknowledged_rows_that_were_deleted(cassandra: CassandraCluster) -> None:
    # RF=1 and ONE everywhere: each row lives on one replica, so deleting it
    # really removes the only copy the read-back could find.
    settings = Settings(
        keyspace="navigator_check_rf1",
        replication_factor=1,
        rate=RATE,
        write_consistency="ONE",
        read_consistency="ONE",
    )
    with DataChecker(cassandra.addresses, settings) as checker:
        checker.wait_for_acks(300)
    acked = sorted(a.seq for a in checker.attempts() if a.outcome is Outcome.ACKED)
    victims = acked[::30][:10]
    delete_rows(cassandra, Table(settings.keyspace), checker.writer_id, victims)
    report = checker.verify()
    show("negative", report)
    assert not report.ok
    assert report.lost == len(victims)
    assert set(report.lost_sample) == set(victims)
    assert report.found == report.acked - len(victims)


def delete_rows(
    cassandra: CassandraCluster, table: Table, writer: uuid.UUID, seqs: list[int]
) -> None:
    cluster = Cluster(cassandra.addresses, connect_timeout=20)
    try:
        session = cluster.connect()
        delete = SimpleStatement(
            f"DELETE FROM {table.qualified} WHERE writer = %s AND shard = %s AND seq = %s",
            consistency_level=ConsistencyLevel.ALL,
        )
        for seq in seqs:
            session.execute(delete, (writer, table.shard_of(seq), seq))
    finally:
        cluster.shutdown()


@pytest.mark.timeout(300)
def test_cli_writes_until_interrupted_then_prints_json(cassandra: CassandraCluster) -> None:
    command = [sys.executable, "-c", "from navigator.cli import main; main()", "check-data"]
    args = ["--contact-points", ",".join(cassandra.addresses), "--rate", "100", "-o", "json"]
    process = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, text=True)
    time.sleep(10)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    print(f"\n[cli] {report}")
    assert process.returncode == 0
    assert report["ok"] is True
    assert report["lost"] == 0
    assert report["acked"] > 100


@pytest.mark.timeout(600)
def test_checker_reports_unavailability_and_what_it_could_not_read(
    cassandra: CassandraCluster,
) -> None:
    # RF=1: while a node is down its rows can be neither written nor read.
    settings = Settings(
        keyspace="navigator_check_rf1",
        replication_factor=1,
        rate=RATE,
        write_consistency="ONE",
        read_consistency="ONE",
        read_attempts=2,
        read_retry_delay=0.2,
    )
    victim = cassandra.nodes[2]
    with DataChecker(cassandra.addresses, settings) as checker:
        checker.wait_for_acks(300)
        cassandra.kill(victim)
        wait_for_states(cassandra, cassandra.nodes[0], [victim.address], state="DN")
        checker.wait_for_acks(300)
    report = checker.verify()
    show("node-down-rf1", report)
    print(f"[node-down-rf1] errors: {dict(report.errors)}")
    assert report.failed + report.unknown > 0
    assert report.failure_rate > 0
    assert report.max_unavailable_s > 0
    assert report.unverified > 0  # rows on the dead node could not be read...
    assert report.lost == 0  # ...which is not the same as lost
    assert not report.ok
