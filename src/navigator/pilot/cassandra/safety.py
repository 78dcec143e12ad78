"""Safety rules for Cassandra operations, as named predicates.

Each returns None when the operation is safe, else the reason in plain words.
The names appear in Pilot status and events when they refuse something.
"""

from __future__ import annotations

from collections.abc import Mapping

from navigator.pilot.cassandra.facts import CassandraFacts, Replication

KEEPS_REPLICATION = "DecommissionKeepsReplicationFactor"


def decommission_keeps_replication(
    keyspaces: Mapping[str, Replication], *, datacenter: str, remaining: int
) -> str | None:
    """Refuse when a keyspace's replication factor in `datacenter` exceeds the
    number of nodes that would remain there (Cassandra could not place every
    replica, so data would be under-replicated or writes at QUORUM would fail)."""
    short = [
        f"{name} (RF {rep.in_datacenter(datacenter)})"
        for name, rep in sorted(keyspaces.items())
        if rep.in_datacenter(datacenter) > remaining
    ]
    if not short:
        return None
    return (
        f"{KEEPS_REPLICATION}: removing this node would leave {remaining} node(s) in "
        f"datacenter {datacenter}, fewer than the replication factor of {', '.join(short)}"
    )


def decommission_refusal(facts: CassandraFacts) -> str | None:
    """Apply the decommission rules to what this node sees."""
    me = next((p for p in facts.peers if p.host_id == facts.host_id), None)
    if me is None:
        return "this node is not in its own view of the ring yet"
    remaining = sum(
        1
        for p in facts.peers
        if p.datacenter == me.datacenter and p.host_id != me.host_id and p.state != "LEAVING"
    )
    return decommission_keeps_replication(
        facts.keyspaces, datacenter=me.datacenter, remaining=remaining
    )
