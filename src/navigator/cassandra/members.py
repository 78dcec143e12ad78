"""How a cluster's members are named: shared by the operator, which makes
them, and the pilot, which must know whether it is the founder. Pure, and
free of anything but the API types (the pilot imports it in the pod)."""

from __future__ import annotations

from navigator.api.cassandra import CassandraCluster, CassandraNodePool


def name_of(cluster: CassandraCluster) -> str:
    return str(cluster.metadata["name"])


def namespace_of(cluster: CassandraCluster) -> str:
    return str(cluster.metadata.get("namespace", "default"))


def statefulset_name(cluster: CassandraCluster, pool: CassandraNodePool) -> str:
    return f"{name_of(cluster)}-{pool.name}"


def member_name(cluster: CassandraCluster, pool: CassandraNodePool, ordinal: int) -> str:
    """The pod (and Pilot) name of one member: the StatefulSet's naming."""
    return f"{statefulset_name(cluster, pool)}-{ordinal}"


def founder(cluster: CassandraCluster) -> str:
    """The one member that may start as its own seed, while no member of the
    cluster ever joined: ordinal 0 of the first pool (spec order) that has
    members, which is the first member the operator creates
    (`decide.next_to_grow`). Every other member seeds from joined members."""
    first = next((p for p in cluster.spec.node_pools if p.replicas > 0), None)
    return member_name(cluster, first or cluster.spec.node_pools[0], 0)
