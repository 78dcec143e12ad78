"""Services and the PodDisruptionBudget: how members find each other and how
many may be disrupted voluntarily at once (`operator.core.builders`)."""

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
from navigator.operator.core.builders import headless_service, pod_disruption_budget


def build_nodes_service(cluster: CassandraCluster) -> Manifest:
    return headless_service(
        metadata(cluster, service_name(cluster)), selector_labels(cluster), PORTS
    )


def build_pdb(cluster: CassandraCluster) -> Manifest:
    """At most one member down by voluntary disruption (drains, evictions)."""
    return pod_disruption_budget(metadata(cluster, name_of(cluster)), selector_labels(cluster))
