"""Parsing what Cassandra reports over JMX, and the decommission safety rule."""

from __future__ import annotations

import pytest

from navigator.pilot.cassandra.facts import (
    Replication,
    parse_facts,
    parse_replication,
    strip_endpoint,
)
from navigator.pilot.cassandra.safety import (
    KEEPS_REPLICATION,
    decommission_keeps_replication,
    decommission_refusal,
)

pytestmark = pytest.mark.unit

STORAGE = {
    "OperationMode": "NORMAL",
    "LocalHostId": "h1",
    "ReleaseVersion": "5.0.6",
    "SchemaVersion": "s-1",
    "ClusterName": "demo",
    "NativeTransportRunning": True,
    "Keyspaces": ["system", "app"],
    "JoiningNodes": [],
    "LeavingNodes": ["10.0.0.3"],
    "MovingNodes": [],
    "EndpointToHostId": {"10.0.0.1": "h1", "10.0.0.2": "h2", "10.0.0.3": "h3"},
    "LoadMap": {"10.0.0.1": "1 MiB", "10.0.0.2": "2 MiB"},
}
STATES = {"/10.0.0.1": "UP", "/10.0.0.2": "DOWN", "/10.0.0.3": "UP"}
PLACEMENT = {a: ("dc1", "r1") for a in ("10.0.0.1", "10.0.0.2", "10.0.0.3")}


def test_facts_combine_ring_state_liveness_and_placement() -> None:
    facts = parse_facts(STORAGE, STATES, PLACEMENT, {"app": "NetworkTopologyStrategy {dc1=3}"})
    assert facts.operation_mode == "NORMAL"
    assert facts.host_id == "h1"
    assert [p.short for p in facts.peers] == ["UN", "DN", "UL"]
    assert facts.peer("10.0.0.2") is not None
    assert facts.keyspaces["app"].in_datacenter("dc1") == 3


@pytest.mark.parametrize(
    ("text", "strategy", "factors"),
    [
        ("SimpleStrategy {replication_factor=1}", "SimpleStrategy", {"*": 1}),
        (
            "org.apache.cassandra.locator.NetworkTopologyStrategy {dc1=3, dc2=2}",
            "NetworkTopologyStrategy",
            {"dc1": 3, "dc2": 2},
        ),
        ("NetworkTopologyStrategy {dc1=3/1}", "NetworkTopologyStrategy", {"dc1": 3}),
        ("LocalStrategy {}", "LocalStrategy", {}),
    ],
)
def test_replication_info_is_parsed(text: str, strategy: str, factors: dict[str, int]) -> None:
    rep = parse_replication(text)
    assert rep.strategy == strategy
    assert dict(rep.factors) == factors


def test_unparseable_replication_is_an_error() -> None:
    with pytest.raises(ValueError, match="unrecognised"):
        parse_replication("garbage")


@pytest.mark.parametrize(
    ("raw", "host"),
    [("/10.0.0.1", "10.0.0.1"), ("10.0.0.1:7000", "10.0.0.1"), ("10.0.0.1", "10.0.0.1")],
)
def test_endpoints_are_normalised(raw: str, host: str) -> None:
    assert strip_endpoint(raw) == host


def test_decommission_is_refused_when_rf_exceeds_remaining_nodes() -> None:
    keyspaces = {"app": Replication("NetworkTopologyStrategy", {"dc1": 3})}
    reason = decommission_keeps_replication(keyspaces, datacenter="dc1", remaining=2)
    assert reason is not None
    assert reason.startswith(KEEPS_REPLICATION)
    assert "app (RF 3)" in reason
    assert decommission_keeps_replication(keyspaces, datacenter="dc1", remaining=3) is None
    # Another datacenter's replication factor does not count here.
    assert decommission_keeps_replication(keyspaces, datacenter="dc2", remaining=0) is None


def test_simple_strategy_counts_in_every_datacenter() -> None:
    keyspaces = {"sd": Replication("SimpleStrategy", {"*": 3})}
    assert decommission_keeps_replication(keyspaces, datacenter="dc9", remaining=2) is not None


def test_refusal_from_facts_ignores_leaving_nodes() -> None:
    facts = parse_facts(STORAGE, STATES, PLACEMENT, {"app": "NetworkTopologyStrategy {dc1=2}"})
    # h1 leaves; h3 is already leaving; only h2 would remain (< RF 2).
    reason = decommission_refusal(facts)
    assert reason is not None
    assert "1 node(s)" in reason


def test_pending_hints_by_host() -> None:
    from navigator.pilot.cassandra.facts import parse_pending_hints

    value = [
        {"host_id": "h1", "total_files": "2", "oldest_timestamp": "1", "newest_timestamp": "2"},
        {"host_id": "h2", "total_files": "0"},
    ]
    assert parse_pending_hints(value) == {"h1": 2}
    assert parse_pending_hints([]) == {}
