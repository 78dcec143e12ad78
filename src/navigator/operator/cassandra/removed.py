"""Pools removed from the spec whose StatefulSet still exists.

A pool taken out of `spec.nodePools` leaves its StatefulSet, its members and
their Pilots behind. They are still members of the ring, so they are observed
like any other (`PoolState.removed`), decommissioned one by one by `decide`,
and the StatefulSet is deleted once it has no member left. Their pool is no
longer in the spec, so it is rebuilt from the StatefulSet the operator built
for it: name (its `navigator.dev/pool` label), datacenter and rack (the
pilot's environment in the pod template), volume size and class (the claim
template), and `replicas` 0, its target.

Pure: plain manifests in, models out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from navigator.api.cassandra import CassandraNodePool
from navigator.operator.cassandra.builders.meta import POOL_LABEL
from navigator.operator.core.revision import REVISION_ANNOTATION

log = logging.getLogger(__name__)


def _spec(sts: Mapping[str, Any]) -> dict[str, Any]:
    return dict(sts.get("spec") or {})


def _env(sts: Mapping[str, Any]) -> dict[str, str]:
    template = _spec(sts).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    env = (containers[0].get("env") or []) if containers else []
    return {str(e.get("name")): str(e["value"]) for e in env if "value" in e}


def pool_of(sts: Mapping[str, Any]) -> CassandraNodePool | None:
    """The pool a StatefulSet was built for, with 0 replicas (None: not one
    of ours, or unreadable)."""
    labels = (sts.get("metadata") or {}).get("labels") or {}
    name = labels.get(POOL_LABEL)
    env = _env(sts)
    claims = _spec(sts).get("volumeClaimTemplates") or []
    claim = (claims[0].get("spec") or {}) if claims else {}
    persistence: dict[str, Any] = {}
    if size := ((claim.get("resources") or {}).get("requests") or {}).get("storage"):
        persistence["size"] = str(size)
    if claim.get("storageClassName"):
        persistence["storageClassName"] = claim["storageClassName"]
    try:
        return CassandraNodePool.model_validate(
            {
                "name": name,
                "replicas": 0,
                "datacenter": env.get("NAVIGATOR_DATACENTER", "dc1"),
                "rack": env.get("NAVIGATOR_RACK") or name,
                "persistence": persistence,
            }
        )
    except ValidationError as err:
        sts_name = (sts.get("metadata") or {}).get("name")
        log.warning("StatefulSet %s: cannot tell which pool it was built for: %s", sts_name, err)
        return None


def template_revision(sts: Mapping[str, Any]) -> str:
    """The revision the StatefulSet's pod template carries."""
    template = _spec(sts).get("template") or {}
    notes = (template.get("metadata") or {}).get("annotations") or {}
    return str(notes.get(REVISION_ANNOTATION, ""))


def removed_pools(
    cluster: str, spec_pools: Sequence[CassandraNodePool], statefulsets: Mapping[str, Any]
) -> list[tuple[CassandraNodePool, str]]:
    """(pool, its template's revision) of each StatefulSet of `cluster` whose
    pool is no longer in the spec, by name. One already being deleted is gone."""
    wanted = {p.name for p in spec_pools}
    out = []
    for name, sts in sorted(statefulsets.items()):
        meta = sts.get("metadata") or {}
        pool_name = (meta.get("labels") or {}).get(POOL_LABEL)
        if not pool_name or pool_name in wanted or meta.get("deletionTimestamp"):
            continue
        if name != f"{cluster}-{pool_name}":
            continue
        pool = pool_of(sts)
        if pool is not None:
            out.append((pool, template_revision(sts)))
    return out
