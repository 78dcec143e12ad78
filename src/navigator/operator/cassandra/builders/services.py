"""Services and the PodDisruptionBudget: how members find each other and how
many may be disrupted voluntarily at once."""

from __future__ import annotations

from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra.builders.meta import (
    Manifest,
    metadata,
    name_of,
    selector_labels,
    service_name,
)
from navigator.operator.cassandra.builders.statefulset import PORTS


def _headless(cluster: CassandraCluster, name: str, selector: dict[str, str]) -> Manifest:
    """A headless Service that publishes members before they are ready: a
    joining node must resolve its peers while it is not ready yet."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector,
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in PORTS.items()],
        },
    }


def build_nodes_service(cluster: CassandraCluster) -> Manifest:
    return _headless(cluster, service_name(cluster), selector_labels(cluster))


def build_pdb(cluster: CassandraCluster) -> Manifest:
    """At most one member down by voluntary disruption (drains, evictions)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(cluster, name_of(cluster)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(cluster)}},
    }
