"""What every object the operator writes shares: a manifest is a plain dict,
written with one field manager, labelled with its cluster (and pool)."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]
FIELD_MANAGER = "navigator-operator"

CLUSTER_LABEL = "navigator.dev/cluster"
POOL_LABEL = "navigator.dev/pool"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
