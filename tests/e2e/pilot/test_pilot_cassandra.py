"""The Cassandra pilot against real Cassandra and the real API server (issue 6).

Ordered: the module's cluster is shared; later tests change it (decommission,
termination), so they run last.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel  # type: ignore[import-untyped]
from cassandra.cluster import Cluster, Session  # type: ignore[import-untyped]
from cassandra.query import SimpleStatement  # type: ignore[import-untyped]

from navigator.testing.members import eventually, probe

from .helpers import PilotCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROWS = 200


@pytest.fixture(scope="module")
def cql(pilots: PilotCluster) -> Iterator[Session]:
    cluster = Cluster([m.address for m in pilots.members], protocol_version=5)
    session = cluster.connect()
    try:
        yield session
    finally:
        cluster.shutdown()


def write_rows(session: Session, keyspace: str) -> None:
    stmt = SimpleStatement(
        f"INSERT INTO {keyspace}.t (id, v) VALUES (%s, %s)",
        consistency_level=ConsistencyLevel.QUORUM,
    )
    for i in range(ROWS):
        session.execute(stmt, (i, f"v{i}"))


def count_rows(session: Session, keyspace: str, level: int) -> int:
    stmt = SimpleStatement(f"SELECT id FROM {keyspace}.t", consistency_level=level)
    return len(list(session.execute(stmt)))


def test_members_form_a_cluster_with_seeds_from_the_api(pilots: PilotCluster) -> None:
    addresses = {m.address for m in pilots.members}
    for m in pilots.members:
        states = eventually(
            lambda m=m: (
                (s := pilots.peer_states(m))
                and set(s) == addresses
                and set(s.values()) == {"UN"}
                and s
            ),
            timeout=60,
        )
        assert len(states) == 3
        facts = pilots.facts(m)
        assert re.fullmatch(r"[0-9a-f-]{36}", facts["hostID"])
        assert facts["operationMode"] == "NORMAL"
        assert facts["releaseVersion"]
        assert facts["clusterName"] == "pilots"
    # The first member founded the cluster, its own seed; the others seeded
    # from the members the cluster recorded as joined, never from themselves.
    seed_ip = pilots.members[0].address
    first = pilots.status(pilots.members[0])["start"]
    assert (first["plan"], first["seeds"]) == ("Found", [seed_ip])
    for m in pilots.members[1:]:
        start = pilots.status(m)["start"]
        assert start["plan"] == "Join", start
        assert seed_ip in start["seeds"]
        assert m.address not in start["seeds"]
        assert '"msg": "starting"' in m.log.read_text()


def test_ready_means_up_normal(pilots: PilotCluster) -> None:
    for m in pilots.members:
        assert probe(m.address, "/healthz/ready") == 200
        status = pilots.status(m)
        assert status["ready"] is True
        assert status["facts"]["operationMode"] == "NORMAL"
        assert probe(m.address, "/healthz/live") == 200
    # The fixture waited for each member to become ready before starting the
    # next: each pilot logged not-ready probes first (the readiness flip).


def test_fact_change_reaches_pilot_status(pilots: PilotCluster, cql: Session) -> None:
    start = time.monotonic()
    cql.execute(
        "CREATE KEYSPACE IF NOT EXISTS latency WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'dc1': 1}"
    )
    created = time.monotonic()
    for m in pilots.members:
        eventually(
            lambda m=m: any(k["name"] == "latency" for k in pilots.facts(m).get("keyspaces", [])),
            timeout=30,
            interval=0.1,
        )
    print(f"\nfact change -> Pilot status (all 3 members): {time.monotonic() - created:.2f} s "
          f"(schema change took {created - start:.2f} s)")  # fmt: skip


def test_pilot_footprint_at_steady_state(pilots: PilotCluster) -> None:
    m = pilots.members[0]
    pid = m.pilot_pid()
    assert pid is not None
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    before, t0 = cpu(), time.monotonic()
    time.sleep(20)
    used, elapsed = cpu() - before, time.monotonic() - t0
    rss = next(
        int(line.split()[1]) * 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    print(f"\npilot RSS {rss / 2**20:.1f} MiB, CPU {100 * used / elapsed:.2f} % of a core")
    assert rss > 0


def test_liveness_fails_while_the_jvm_is_hung(pilots: PilotCluster) -> None:
    m = pilots.members[2]
    pid = m.cassandra_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        eventually(lambda: probe(m.address, "/healthz/live") == 503, timeout=30)
    finally:
        os.kill(pid, signal.SIGCONT)
    eventually(lambda: probe(m.address, "/healthz/live") == 200, timeout=60)
    eventually(lambda: probe(m.address, "/healthz/ready") == 200, timeout=60)


def test_decommission_that_would_break_replication_is_refused(
    pilots: PilotCluster, cql: Session
) -> None:
    cql.execute(
        "CREATE KEYSPACE app WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    )
    cql.execute("CREATE TABLE app.t (id int PRIMARY KEY, v text)")
    write_rows(cql, "app")
    m = pilots.members[2]
    eventually(lambda: any(k["name"] == "app" for k in pilots.facts(m).get("keyspaces", [])))
    pilots.request(m, "decommission-1", "Decommission")
    outcome = eventually(lambda: (o := pilots.outcome(m, "decommission-1")) and o, timeout=30)
    assert outcome["phase"] == "Refused"
    assert "DecommissionKeepsReplicationFactor" in outcome["message"]
    assert "app (RF 3)" in outcome["message"]
    assert pilots.facts(m)["operationMode"] == "NORMAL"


def test_decommission_completes_once_even_if_the_pilot_is_killed_midway(
    pilots: PilotCluster, cql: Session
) -> None:
    for ks in ("app", "system_distributed", "system_traces"):
        cql.execute(
            f"ALTER KEYSPACE {ks} WITH replication = "
            "{'class': 'NetworkTopologyStrategy', 'dc1': 2}"
        )
    m = pilots.members[2]
    eventually(
        lambda: all(
            k["replication"].get("dc1", 0) <= 2
            for k in pilots.facts(m).get("keyspaces", [])
            if k["name"] in ("app", "system_distributed", "system_traces")
        )
    )
    pilots.request(m, "decommission-2", "Decommission")
    eventually(lambda: pilots.outcome(m, "decommission-2").get("phase") == "Running", 30, 0.1)
    # Kill the pilot (PID 1 of the member: Cassandra dies with it, as in a
    # container restart), then start it again.
    m.kill()
    m.start()
    done = eventually(
        lambda: (o := pilots.outcome(m, "decommission-2")).get("phase") == "Succeeded" and o,
        timeout=300,
    )
    assert done["attempts"] == 2
    remaining = {x.address for x in pilots.members[:2]}
    eventually(lambda: set(pilots.peer_states(pilots.members[0])) == remaining, timeout=60)
    assert count_rows(cql, "app", ConsistencyLevel.QUORUM) == ROWS
    # The decommissioned member keeps its pilot up but never runs Cassandra again.
    eventually(lambda: m.cassandra_pid() is None, timeout=60)
    assert probe(m.address, "/healthz/ready") == 503
    assert probe(m.address, "/healthz/live") == 200
    m.kill()
    m.start()
    time.sleep(5)
    assert m.cassandra_pid() is None
    assert pilots.outcome(m, "decommission-2")["attempts"] == 2


def test_a_decommission_finished_while_the_pilot_was_down_is_recorded(
    pilots: PilotCluster,
) -> None:
    """The window the test above cannot hit by timing: Cassandra finished its
    decommission, the pilot was killed before recording it, and a new pilot
    finds the intent still Running. It starts Cassandra, which refuses to
    rejoin (its system keyspace says DECOMMISSIONED) and says so; the pilot
    records Succeeded from that and stays up without Cassandra."""
    m = pilots.members[2]
    m.kill()
    # The record as the killed pilot left it: Running, not yet Succeeded.
    recorded = pilots.status(m)["intents"]
    assert [o["id"] for o in recorded] == ["decommission-1", "decommission-2"]
    running = {**recorded[1], "phase": "Running", "message": "started"}
    patch = json.dumps({"status": {"intents": [recorded[0], running]}})
    pilots.kubectl("patch", "pilot", m.name, "--subresource=status", "--type=merge", "-p", patch)
    assert pilots.outcome(m, "decommission-2")["phase"] == "Running"
    m.start()
    done = eventually(
        lambda: (o := pilots.outcome(m, "decommission-2")).get("phase") == "Succeeded" and o,
        timeout=120,
    )
    assert done["message"].startswith("completed while the pilot was down: Cassandra refuses")
    assert done["attempts"] == 2
    assert pilots.outcome(m, "decommission-1")["phase"] == "Refused"
    assert "This node was decommissioned and will not rejoin the ring" in m.log.read_text()
    assert m.running, "the pilot stays up"
    assert m.cassandra_pid() is None
    assert probe(m.address, "/healthz/live") == 200
    assert probe(m.address, "/healthz/ready") == 503
    remaining = {x.address for x in pilots.members[:2]}
    assert set(pilots.peer_states(pilots.members[0])) == remaining


def test_sigterm_drains_then_stops(pilots: PilotCluster) -> None:
    m = pilots.members[1]
    m.signal_pilot(signal.SIGTERM)
    assert m.wait(120) == 0
    log = m.log.read_text()
    assert log.index("draining") < log.index('"drained"') < log.index("database stopped")
