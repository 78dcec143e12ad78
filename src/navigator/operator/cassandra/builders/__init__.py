"""Pure builders of every object the operator owns (plain manifests, no client).

`build_cluster_objects` returns the cluster-wide objects; StatefulSets and
Pilots are built per pool and member with the sizes the operator decided.
"""

from __future__ import annotations

from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra.builders.meta import Manifest
from navigator.operator.cassandra.builders.pilots import build_pilot
from navigator.operator.cassandra.builders.rbac import (
    build_role,
    build_role_binding,
    build_service_account,
)
from navigator.operator.cassandra.builders.services import build_nodes_service, build_pdb
from navigator.operator.cassandra.builders.statefulset import build_statefulset


def build_cluster_objects(cluster: CassandraCluster) -> list[Manifest]:
    """Everything except StatefulSets and Pilots, in apply order."""
    return [
        build_service_account(cluster),
        build_role(cluster),
        build_role_binding(cluster),
        build_nodes_service(cluster),
        build_pdb(cluster),
    ]


__all__ = [
    "Manifest",
    "build_cluster_objects",
    "build_pilot",
    "build_statefulset",
]
