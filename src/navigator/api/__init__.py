"""Navigator's API types (group `navigator.dev`, version `v1alpha1`).

The pydantic models here are the single source of truth: the CRD YAML under
`deploy/crds/` and `docs/api.md` are generated from them by `crdgen`.
"""

from navigator.api.cassandra import CassandraCluster, CassandraClusterSpec, CassandraClusterStatus
from navigator.api.common import GROUP, VERSION
from navigator.api.pilot import Pilot, PilotSpec, PilotStatus
from navigator.api.search import (
    ElasticsearchCluster,
    OpenSearchCluster,
    SearchCluster,
    SearchClusterSpec,
    SearchClusterStatus,
)

__all__ = [
    "GROUP",
    "VERSION",
    "CassandraCluster",
    "CassandraClusterSpec",
    "CassandraClusterStatus",
    "ElasticsearchCluster",
    "OpenSearchCluster",
    "Pilot",
    "PilotSpec",
    "PilotStatus",
    "SearchCluster",
    "SearchClusterSpec",
    "SearchClusterStatus",
]
