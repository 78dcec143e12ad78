"""One Pilot per member, named after its pod: the operator's intents for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.api.common import GROUP, VERSION
from navigator.operator.cassandra.builders.meta import Manifest, metadata, name_of
from navigator.operator.core.intents import PENDING_INTENTS_FINALIZER

DECOMMISSION = "Decommission"
REPLACE = "Replace"


def build_pilot(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    member: str,
    *,
    decommission_ids: Sequence[str] = (),
    replaces: Sequence[Mapping[str, str]] = (),
    pending: bool = False,
) -> Manifest:
    """The member's Pilot. Intents already written must be passed back in
    (`decommission_ids`, `replaces`: id, address, hostID): an applied manifest
    lists every intent it owns. `pending`: some intent has no final outcome,
    so the Pilot carries `PENDING_INTENTS_FINALIZER`: a Pilot deleted then
    (by hand, or by the garbage collector) stays until the intent finishes."""
    meta: dict[str, Any] = metadata(cluster, member, pool)
    if pending:
        meta["finalizers"] = [PENDING_INTENTS_FINALIZER]
    intents: list[dict[str, str]] = [{"id": i, "action": DECOMMISSION} for i in decommission_ids]
    intents += [
        {"id": r["id"], "action": REPLACE, "address": r["address"], "hostID": r["hostID"]}
        for r in replaces
    ]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Pilot",
        "metadata": meta,
        "spec": {"cluster": name_of(cluster), "intents": intents},
    }
