"""What a Cassandra node knows about itself and its ring, parsed from JMX.

The pilot reads everything in one Jolokia bulk request (see `jolokia.py`);
these functions turn that JSON into frozen facts. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STORAGE_SERVICE = "org.apache.cassandra.db:type=StorageService"
FAILURE_DETECTOR = "org.apache.cassandra.net:type=FailureDetector"
SNITCH = "org.apache.cassandra.db:type=EndpointSnitchInfo"
HINTS_SERVICE = "org.apache.cassandra.hints:type=HintsService"

STORAGE_ATTRIBUTES = (
    "OperationMode",
    "LocalHostId",
    "ReleaseVersion",
    "SchemaVersion",
    "ClusterName",
    "NativeTransportRunning",
    "Keyspaces",
    "JoiningNodes",
    "LeavingNodes",
    "MovingNodes",
    "EndpointToHostId",
    "LoadMap",
)

# Keyspaces whose replication Navigator does not reason about: local-only or
# managed by Cassandra itself.
SYSTEM_KEYSPACES = frozenset({"system", "system_schema", "system_views", "system_virtual_schema"})


@dataclass(frozen=True)
class Peer:
    """One ring member as this node sees it."""

    address: str
    host_id: str
    up: bool
    state: str  # NORMAL, JOINING, LEAVING, MOVING
    datacenter: str
    rack: str
    load: str

    @property
    def short(self) -> str:
        """The nodetool two-letter status: UN, UJ, UL, UM, DN…"""
        return ("U" if self.up else "D") + self.state[:1]


@dataclass(frozen=True)
class Replication:
    strategy: str
    factors: Mapping[str, int]  # datacenter -> RF; SimpleStrategy uses key "*"

    def in_datacenter(self, dc: str) -> int:
        return self.factors.get(dc, self.factors.get("*", 0))


@dataclass(frozen=True)
class CassandraFacts:
    operation_mode: str
    host_id: str
    release_version: str
    schema_version: str
    cluster_name: str
    native_transport_running: bool
    peers: tuple[Peer, ...]
    keyspaces: Mapping[str, Replication] = field(default_factory=dict)
    # Hint files this node holds, by the host ID they are for; None: unknown.
    hints_pending: Mapping[str, int] | None = None

    def peer(self, address: str) -> Peer | None:
        return next((p for p in self.peers if p.address == address), None)

    def datacenter_of(self, host_id: str) -> str | None:
        return next((p.datacenter for p in self.peers if p.host_id == host_id), None)


def parse_pending_hints(value: Any) -> dict[str, int]:
    """`HintsService.PendingHints`: a list of maps with `host_id` and
    `total_files`; hosts with no files are left out."""
    out: dict[str, int] = {}
    for item in value or []:
        files = int(str(item.get("total_files") or 0))
        if files > 0:
            out[str(item.get("host_id") or "")] = files
    return out


def strip_endpoint(endpoint: str) -> str:
    """`/10.0.0.1`, `10.0.0.1:7000` and `10.0.0.1` all name 10.0.0.1."""
    host = endpoint.lstrip("/")
    if host.count(":") == 1:  # IPv4 with port; IPv6 keeps its colons
        host = host.split(":", 1)[0]
    return host


_REPLICATION = re.compile(r"^\s*(?P<cls>[\w.$]+)\s*\{(?P<opts>.*)\}\s*$")


def parse_replication(text: str) -> Replication:
    """Parse `getKeyspaceReplicationInfo`: `NetworkTopologyStrategy {dc1=3, dc2=2}`."""
    m = _REPLICATION.match(text)
    if not m:
        raise ValueError(f"unrecognised replication info {text!r}")
    strategy = m["cls"].rsplit(".", 1)[-1]
    factors: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in m["opts"].split(","))):
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key in ("class",):
            continue
        rf = _replication_factor(value)
        if rf is None:
            continue
        factors["*" if key == "replication_factor" else key] = rf
    return Replication(strategy=strategy, factors=factors)


def _replication_factor(value: str) -> int | None:
    """`3`, or `3/1` (transient replication: full/transient) -> 3."""
    head = value.split("/", 1)[0]
    return int(head) if head.isdigit() else None


def parse_facts(
    storage: Mapping[str, Any],
    simple_states: Mapping[str, str],
    placement: Mapping[str, tuple[str, str]],
    replication: Mapping[str, str],
) -> CassandraFacts:
    """Combine the bulk-read values into facts.

    `storage`: StorageService attributes; `simple_states`: FailureDetector's
    endpoint -> UP/DOWN; `placement`: address -> (datacenter, rack);
    `replication`: keyspace -> getKeyspaceReplicationInfo text.
    """
    host_ids = {strip_endpoint(k): v for k, v in (storage.get("EndpointToHostId") or {}).items()}
    loads = {strip_endpoint(k): v for k, v in (storage.get("LoadMap") or {}).items()}
    up = {strip_endpoint(k): v.upper() == "UP" for k, v in simple_states.items()}
    states = _ring_states(storage)
    peers = tuple(
        Peer(
            address=addr,
            host_id=host_id,
            up=up.get(addr, False),
            state=states.get(addr, "NORMAL"),
            datacenter=placement.get(addr, ("", ""))[0],
            rack=placement.get(addr, ("", ""))[1],
            load=loads.get(addr, ""),
        )
        for addr, host_id in sorted(host_ids.items())
    )
    return CassandraFacts(
        operation_mode=str(storage.get("OperationMode") or "UNKNOWN"),
        host_id=str(storage.get("LocalHostId") or ""),
        release_version=str(storage.get("ReleaseVersion") or ""),
        schema_version=str(storage.get("SchemaVersion") or ""),
        cluster_name=str(storage.get("ClusterName") or ""),
        native_transport_running=bool(storage.get("NativeTransportRunning")),
        peers=peers,
        keyspaces={ks: parse_replication(text) for ks, text in sorted(replication.items())},
    )


def _ring_states(storage: Mapping[str, Any]) -> dict[str, str]:
    states: dict[str, str] = {}
    for attr, state in (
        ("JoiningNodes", "JOINING"),
        ("LeavingNodes", "LEAVING"),
        ("MovingNodes", "MOVING"),
    ):
        for endpoint in storage.get(attr) or []:
            states[strip_endpoint(endpoint)] = state
    return states


def user_keyspaces(names: Sequence[str]) -> list[str]:
    """Keyspaces whose replication matters for decommission safety."""
    return sorted(k for k in names if k not in SYSTEM_KEYSPACES)
