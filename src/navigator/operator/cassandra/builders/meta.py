"""Names, labels and owner references shared by every owned object."""

from __future__ import annotations

from typing import Any

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.cassandra.members import (
    founder,
    member_name,
    name_of,
    namespace_of,
    statefulset_name,
)
from navigator.operator.core import builders as core
from navigator.operator.core.objects import (
    CLUSTER_LABEL,
    FIELD_MANAGER,
    POD_INDEX_LABEL,
    POOL_LABEL,
    Manifest,
)

# The members' names are `navigator.cassandra.members` (the pilot needs them
# too and must not import the operator); every builder finds them here.
__all__ = [
    "CLUSTER_LABEL",
    "DECOMMISSIONED_LABEL",
    "FIELD_MANAGER",
    "POD_INDEX_LABEL",
    "POOL_LABEL",
    "Manifest",
    "founder",
    "labels",
    "member_name",
    "metadata",
    "name_of",
    "namespace_of",
    "nodes_service_name",
    "owner_reference",
    "pilot_account_name",
    "pool_tls_secret_name",
    "selector_labels",
    "service_name",
    "statefulset_name",
    "volume_name",
]


# On a kept volume whose member was decommissioned (see reconcile).
DECOMMISSIONED_LABEL = "navigator.dev/decommissioned"


def volume_name(member: str) -> str:
    """The PersistentVolumeClaim of a member's data (the volumeClaimTemplate's)."""
    return f"data-{member}"


def service_name(cluster: CassandraCluster) -> str:
    """The headless Service of all members (the StatefulSets' serviceName)."""
    return nodes_service_name(name_of(cluster))


def nodes_service_name(cluster_name: str) -> str:
    """`service_name` from the cluster's name alone."""
    return f"{cluster_name}-nodes"


def pilot_account_name(cluster: CassandraCluster) -> str:
    return f"{name_of(cluster)}-pilot"


def selector_labels(cluster: CassandraCluster) -> dict[str, str]:
    """The labels that select every member of the cluster (immutable)."""
    return {
        "app.kubernetes.io/name": "cassandra",
        "app.kubernetes.io/instance": name_of(cluster),
        CLUSTER_LABEL: name_of(cluster),
    }


def labels(cluster: CassandraCluster, pool: CassandraNodePool | None = None) -> dict[str, str]:
    out = {**selector_labels(cluster), "app.kubernetes.io/managed-by": "navigator"}
    if pool is not None:
        out[POOL_LABEL] = pool.name
    return out


def owner_reference(cluster: CassandraCluster) -> dict[str, Any]:
    """The controller reference that makes the API server collect the object
    when the cluster is deleted."""
    uid = str(cluster.metadata.get("uid", ""))
    return core.owner_reference(cluster.api_version, cluster.kind, name_of(cluster), uid)


def metadata(
    cluster: CassandraCluster, name: str, pool: CassandraNodePool | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace_of(cluster),
        "labels": labels(cluster, pool),
        "ownerReferences": [owner_reference(cluster)],
    }


def pool_tls_secret_name(cluster: CassandraCluster, pool: CassandraNodePool) -> str:
    """The Secret holding the TLS certificates of a pool's members."""
    return f"{statefulset_name(cluster, pool)}-tls"
