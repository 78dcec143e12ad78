"""The pilots' identity: one ServiceAccount per cluster bound to a Role with
the pilot's least privilege (`navigator.pilot.rbac.PILOT_RULES`)."""

from __future__ import annotations

from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra.builders.meta import (
    Manifest,
    metadata,
    namespace_of,
    pilot_account_name,
)
from navigator.pilot.rbac import PILOT_RULES

RBAC = "rbac.authorization.k8s.io"


def build_service_account(cluster: CassandraCluster) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(cluster, pilot_account_name(cluster)),
    }


def build_role(cluster: CassandraCluster) -> Manifest:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": metadata(cluster, pilot_account_name(cluster)),
        "rules": [dict(r) for r in PILOT_RULES],
    }


def build_role_binding(cluster: CassandraCluster) -> Manifest:
    name = pilot_account_name(cluster)
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": metadata(cluster, name),
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace_of(cluster)}],
    }
