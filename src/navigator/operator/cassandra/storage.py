"""Storage expansion: a raised `persistence.size` grows every member's volume
in place. Pure decisions here; the reconcile carries them out.

A StatefulSet's volumeClaimTemplates are immutable, and the StatefulSet
controller never resizes a claim it created. So, per pool whose size rose,
once `StorageClassAllowsExpansion` holds:

1. each member's claim gets the new `spec.resources.requests.storage` (the
   storage driver grows the volume and, online, its filesystem);
2. the StatefulSet is deleted with `propagationPolicy: Orphan` (its pods and
   claims stay, running) and applied again at once with the new template, at
   the replicas it had: the new StatefulSet adopts the pods. The pod
   template, hence the revision (`pool_revision`), does not contain the size,
   so nobody restarts.

Until every claim reports the new capacity the cluster shows the operation
`ExpandStorage` waiting on `VolumesExpanded`. A class without
`allowVolumeExpansion: true` gets neither step: the operation shows
`StorageClassAllowsExpansion` with a Warning event, and the StatefulSet keeps
the size it was created with (`held_claim_size`), so the rest of the
cluster's changes still apply.

Shrinking never gets here: the CRD's transition rule refuses it at admission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.operator.cassandra.actions import Wait
from navigator.operator.cassandra.builders.meta import POOL_LABEL, statefulset_name, volume_name
from navigator.operator.cassandra.predicates import STORAGE_CLASS_ALLOWS_EXPANSION, VOLUMES_EXPANDED
from navigator.operator.core.gates import Block
from navigator.quantity import quantity

EXPAND_STORAGE = "ExpandStorage"


@dataclass(frozen=True)
class Step:
    """What the reconcile's storage step did: the wait to show (when nothing
    else is going on), and whether the pass must end and decide again from
    fresh reads (a StatefulSet was re-created from its orphaned pods)."""

    wait: Wait | None = None
    decide_again: bool = False


@dataclass(frozen=True)
class Claim:
    """The projection of a member's PersistentVolumeClaim the decisions use."""

    name: str
    requested: str
    capacity: str
    storage_class: str


def claim_of(raw: Mapping[str, Any]) -> Claim:
    spec, status = raw.get("spec") or {}, raw.get("status") or {}
    return Claim(
        name=str((raw.get("metadata") or {}).get("name") or ""),
        requested=str(((spec.get("resources") or {}).get("requests") or {}).get("storage") or ""),
        capacity=str((status.get("capacity") or {}).get("storage") or ""),
        storage_class=str(spec.get("storageClassName") or ""),
    )


def smaller(size: str, than: str) -> bool:
    """Whether quantity `size` is below `than` (an unknown `size` is: it has
    not been set; an unknown `than` is not: there is nothing to grow to)."""
    want = quantity(than)
    if want is None:
        return False
    have = quantity(size)
    return have is None or have < want


def template_size(statefulset: Mapping[str, Any] | None) -> str:
    """The storage request of the StatefulSet's (first) volumeClaimTemplate."""
    templates = ((statefulset or {}).get("spec") or {}).get("volumeClaimTemplates") or []
    if not templates:
        return ""
    return str(
        ((templates[0].get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        or ""
    )


@dataclass(frozen=True)
class PoolStorage:
    """One pool's volumes against its spec."""

    pool: str
    size: str
    template: str
    replicas: int
    claims: tuple[Claim, ...]

    @property
    def to_patch(self) -> tuple[str, ...]:
        """Members' claims that still ask for less than the spec."""
        return tuple(c.name for c in self.claims if smaller(c.requested, self.size))

    @property
    def recreate(self) -> bool:
        """The StatefulSet's claim template holds a smaller size than the spec."""
        return bool(self.template) and smaller(self.template, self.size)

    @property
    def growing(self) -> tuple[str, ...]:
        """Members' claims whose volume does not have the spec's size yet."""
        return tuple(c.name for c in self.claims if smaller(c.capacity, self.size))

    @property
    def storage_class(self) -> str:
        """The class the members' volumes are in (what the API server set on
        each claim, the cluster default when the spec names none)."""
        return next((c.storage_class for c in self.claims if c.storage_class), "")


def pool_storage(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    statefulset: Mapping[str, Any],
    claims: Iterable[Mapping[str, Any]],
) -> PoolStorage:
    """The pool's members' claims (ordinals below the StatefulSet's replicas)."""
    replicas = int((statefulset.get("spec") or {}).get("replicas") or 0)
    sts = statefulset_name(cluster, pool)
    names = {volume_name(f"{sts}-{ordinal}") for ordinal in range(replicas)}
    mine = tuple(
        sorted(
            (claim_of(c) for c in claims if (c.get("metadata") or {}).get("name") in names),
            key=lambda c: c.name,
        )
    )
    return PoolStorage(pool.name, pool.persistence.size, template_size(statefulset), replicas, mine)


def needs_look(cluster: CassandraCluster, statefulsets: Mapping[str, Any], stored: str) -> bool:
    """Whether this pass must read the claims: a pool's claim template is
    below its spec, or the stored status shows an expansion in progress
    (no claim reads at all in the steady state)."""
    if stored == EXPAND_STORAGE:
        return True
    return any(
        smaller(template_size(sts), pool.persistence.size)
        for pool in cluster.spec.node_pools
        if (sts := statefulsets.get(statefulset_name(cluster, pool))) is not None
        and template_size(sts)
    )


def storage_class_allows_expansion(
    storage_class: Mapping[str, Any] | None, name: str, pool: str, size: str
) -> Block | None:
    """A volume grows only in a StorageClass with `allowVolumeExpansion: true`
    (the API server refuses the claim's change otherwise): without it nothing
    is patched and the pool keeps its volumes' size."""
    why = f"pool {pool}: persistence.size {size} needs the members' volumes to grow, but"
    if not name:
        return Block(STORAGE_CLASS_ALLOWS_EXPANSION, f"{why} their claims name no StorageClass")
    if storage_class is None:
        return Block(STORAGE_CLASS_ALLOWS_EXPANSION, f"{why} StorageClass {name} does not exist")
    if storage_class.get("allowVolumeExpansion") is not True:
        return Block(
            STORAGE_CLASS_ALLOWS_EXPANSION,
            f"{why} StorageClass {name} does not set allowVolumeExpansion: true"
            " (set it if the driver supports expansion; the volumes keep their size)",
        )
    return None


def refused(block: Block, pool: str) -> Wait:
    return Wait(block.rule, block.reason, EXPAND_STORAGE, pool)


def progress(state: PoolStorage) -> Wait | None:
    """The wait for the storage driver while some member's volume is smaller."""
    growing = state.growing
    if not growing:
        return None
    return Wait(
        VOLUMES_EXPANDED,
        f"{len(growing)} of {len(state.claims)} volumes of pool {state.pool} not yet"
        f" {state.size}: {', '.join(growing)}",
        EXPAND_STORAGE,
        state.pool,
    )


def held_claim_size(manifest: dict[str, Any], live: Mapping[str, Any] | None) -> dict[str, Any]:
    """The StatefulSet manifest with the claim template's size of the live
    object: the template is immutable, so the size changes only through the
    re-creation above, never by an apply (the API server would refuse it)."""
    held = template_size(live)
    if not held or held == template_size(manifest):
        return manifest
    spec = manifest["spec"]
    templates = [dict(t) for t in spec["volumeClaimTemplates"]]
    first = dict(templates[0])
    first_spec = dict(first["spec"])
    first_spec["resources"] = {
        **first_spec.get("resources", {}),
        "requests": {**first_spec.get("resources", {}).get("requests", {}), "storage": held},
    }
    first["spec"] = first_spec
    templates[0] = first
    return {**manifest, "spec": {**spec, "volumeClaimTemplates": templates}}


def orphaned_replicas(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    pods: Mapping[str, Mapping[str, Any]],
    pilots: Iterable[str],
) -> int:
    """How many members a pool whose StatefulSet is gone (or going) still has:
    one more than the highest ordinal of its pods and Pilots (0: none). A
    re-creation cut short between the orphaning delete and the new apply
    resumes with this, never with 0, which would delete the adopted pods."""
    prefix = f"{statefulset_name(cluster, pool)}-"
    names = [
        n
        for n, p in pods.items()
        if ((p.get("metadata") or {}).get("labels") or {}).get(POOL_LABEL) == pool.name
    ]
    ordinals = [
        int(n[len(prefix) :])
        for n in [*names, *pilots]
        if n.startswith(prefix) and n[len(prefix) :].isdigit()
    ]
    return max(ordinals) + 1 if ordinals else 0
