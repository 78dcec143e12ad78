"""Read a node's facts from Cassandra in two bulk JMX requests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from navigator.pilot.cassandra.facts import (
    FAILURE_DETECTOR,
    HINTS_SERVICE,
    SNITCH,
    STORAGE_ATTRIBUTES,
    STORAGE_SERVICE,
    CassandraFacts,
    parse_facts,
    parse_pending_hints,
    strip_endpoint,
)
from navigator.pilot.cassandra.jolokia import Exec, Jolokia, JolokiaError, Read, Request
from navigator.pilot.core.intents import Progress


async def observe(jmx: Jolokia) -> CassandraFacts:
    storage, detector = await jmx.bulk(
        [Read(STORAGE_SERVICE, STORAGE_ATTRIBUTES), Read(FAILURE_DETECTOR, ("SimpleStates",))]
    )
    endpoints = sorted({strip_endpoint(e) for e in (storage.get("EndpointToHostId") or {})})
    keyspaces = sorted(storage.get("Keyspaces") or [])
    second: list[Request] = []
    for ep in endpoints:
        second.append(Exec(SNITCH, "getDatacenter(java.lang.String)", (ep,)))
        second.append(Exec(SNITCH, "getRack(java.lang.String)", (ep,)))
    second += [Exec(STORAGE_SERVICE, "getKeyspaceReplicationInfo", (ks,)) for ks in keyspaces]
    values: list[Any] = await jmx.bulk(second)
    placement = {ep: (str(values[2 * i]), str(values[2 * i + 1])) for i, ep in enumerate(endpoints)}
    replication = {
        ks: str(v) for ks, v in zip(keyspaces, values[2 * len(endpoints) :], strict=True)
    }
    facts = parse_facts(storage, detector.get("SimpleStates") or {}, placement, replication)
    return replace(facts, hints_pending=await pending_hints(jmx))


async def pending_hints(jmx: Jolokia) -> dict[str, int] | None:
    """Hint files held for other nodes; None when the node cannot say (yet):
    a rollout waits on unknown hints rather than assuming none."""
    try:
        value = await jmx.call(Read(HINTS_SERVICE, ("PendingHints",)))
        # Jolokia answers a read of named attributes with a map by attribute.
        if isinstance(value, dict):
            value = value.get("PendingHints")
        return parse_pending_hints(value)
    except (JolokiaError, ValueError, TypeError, AttributeError):
        return None


# Cassandra's StorageService operation modes, mapped to an intent's progress.
# An operation may only begin from NORMAL; in any mode not listed (STARTING,
# JOINING, MOVING, DRAINING…) the answer is "not now" (UNKNOWN: wait).
_DECOMMISSION = {
    "NORMAL": Progress.NOT_STARTED,
    "LEAVING": Progress.IN_PROGRESS,
    "DECOMMISSIONED": Progress.DONE,
    "DECOMMISSION_FAILED": Progress.FAILED,
}
_DRAIN = {
    "NORMAL": Progress.NOT_STARTED,
    "DRAINING": Progress.IN_PROGRESS,
    "DRAINED": Progress.DONE,
}


def progress(action: str, facts: CassandraFacts | None) -> Progress:
    """Where `action` stands, from the node's operation mode alone."""
    if facts is None:
        return Progress.UNKNOWN
    table = _DECOMMISSION if action == "Decommission" else _DRAIN
    return table.get(facts.operation_mode, Progress.UNKNOWN)


def begin_request(action: str) -> Request:
    if action == "Decommission":
        # force=false: Cassandra re-checks replication itself as a second guard.
        return Exec(STORAGE_SERVICE, "decommission(boolean)", (False,))
    if action == "Drain":
        return Exec(STORAGE_SERVICE, "drain()")
    raise ValueError(f"unsupported action {action!r}")
