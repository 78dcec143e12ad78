"""One Pilot per member, named after its pod: the operator's intents for it."""

from __future__ import annotations

from collections.abc import Sequence

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.api.common import GROUP, VERSION
from navigator.operator.builders.meta import Manifest, metadata, name_of

DECOMMISSION = "Decommission"


def build_pilot(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    member: str,
    *,
    decommission_ids: Sequence[str] = (),
) -> Manifest:
    """The member's Pilot. Intents already written must be passed back in
    (`decommission_ids`): an applied manifest lists every intent it owns."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Pilot",
        "metadata": metadata(cluster, member, pool),
        "spec": {
            "cluster": name_of(cluster),
            "intents": [{"id": i, "action": DECOMMISSION} for i in decommission_ids],
        },
    }
