"""The operator's only door to the API server: reads, server-side apply with
one field manager, deletes and Events, each write counted.

`apply` stamps each manifest with a hash of itself (`navigator.dev/applied`)
and skips the request when the live object carries that hash and still holds
every value the manifest sets, so a reconcile with nothing to change makes no
write at all. Comparing the whole manifest by its hash, not only the fields
it sets, is what lets a removed field go: the apply that follows sends the
manifest without it, and server-side apply drops what our field manager no
longer sends.

A `Kube` given `is_leader` refuses every write (`NotLeader`) once this
replica no longer holds the Lease.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import (
    Event,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
    ServiceAccount,
)
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.resources.storage_v1 import StorageClass
from lightkube.types import CascadeType, PatchType

from navigator.api.common import GROUP, VERSION
from navigator.operator.core.leader import NotLeader
from navigator.operator.core.objects import FIELD_MANAGER, Manifest
from navigator.quantity import quantity

if TYPE_CHECKING:
    from navigator.operator.core.metrics import Metrics

CassandraClusterResource = create_namespaced_resource(
    GROUP, VERSION, "CassandraCluster", "cassandraclusters"
)
PilotResource = create_namespaced_resource(GROUP, VERSION, "Pilot", "pilots")
# spec.tls.certManager: the operator writes Certificates, cert-manager issues them.
CertificateResource = create_namespaced_resource(
    "cert-manager.io", "v1", "Certificate", "certificates"
)

RESOURCES: dict[str, Any] = {
    "StatefulSet": StatefulSet,
    "Service": Service,
    "ServiceAccount": ServiceAccount,
    "PodDisruptionBudget": PodDisruptionBudget,
    "Role": Role,
    "RoleBinding": RoleBinding,
    "Pilot": PilotResource,
    "CassandraCluster": CassandraClusterResource,
    "Lease": Lease,
    "PersistentVolumeClaim": PersistentVolumeClaim,
    "Pod": Pod,
    "StorageClass": StorageClass,  # cluster-scoped: namespace ""
    "PersistentVolume": PersistentVolume,  # cluster-scoped
    "Node": Node,  # cluster-scoped
    "Secret": Secret,
    "Certificate": CertificateResource,
}


# On every object `apply` writes: a hash of the manifest as built.
APPLIED_ANNOTATION = "navigator.dev/applied"
APPLIED_CHARS = 16


def applied_hash(manifest: Manifest) -> str:
    """A short, stable hash of a manifest as built (keys sorted; the
    applied annotation itself excluded, so stamping does not change it)."""
    meta = dict(manifest.get("metadata") or {})
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k != APPLIED_ANNOTATION}
    meta["annotations"] = notes
    canonical = json.dumps({**manifest, "metadata": meta}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:APPLIED_CHARS]


def stamped(manifest: Manifest) -> Manifest:
    """The manifest with its hash in the `navigator.dev/applied` annotation."""
    meta = dict(manifest.get("metadata") or {})
    notes = {**(meta.get("annotations") or {}), APPLIED_ANNOTATION: applied_hash(manifest)}
    return {**manifest, "metadata": {**meta, "annotations": notes}}


def unchanged(live: Mapping[str, Any], manifest: Manifest) -> bool:
    """Whether applying `manifest` would change nothing: `live` was last
    applied from the same manifest (it carries the same hash, so no field was
    added or removed since) and still holds every value the manifest sets
    (nobody else changed one since)."""
    return contains(live, stamped(manifest))


# Maps whose values are resource quantities, which the API server stores in
# canonical form ("2048Mi" comes back as "2Gi", "1000m" as "1").
QUANTITY_MAPS = frozenset({"limits", "requests"})


def _same(live: Any, desired: Any, *, quantities: bool) -> bool:
    if live == desired:
        return True
    if not quantities:
        return False
    value = quantity(desired)
    return value is not None and value == quantity(live)


def contains(live: Any, desired: Any, *, quantities: bool = False) -> bool:
    """Whether `live` already holds every value `desired` sets (maps may have
    more keys, e.g. defaults the API server filled in; lists match item by
    item; resource quantities match by value, however they are spelled)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            contains(live.get(k), v, quantities=quantities or k in QUANTITY_MAPS)
            for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return _same(live, desired, quantities=quantities)


def to_dict(obj: Any) -> dict[str, Any]:
    return dict(obj.to_dict()) if hasattr(obj, "to_dict") else dict(obj)


def is_not_found(err: ApiError) -> bool:
    return err.status.code == 404


def is_conflict(err: ApiError) -> bool:
    """409: the object changed since it was read (a resourceVersion
    precondition failed), or someone else created it first."""
    return err.status.code == 409


def is_namespace_terminating(err: ApiError) -> bool:
    """The API server refuses new objects in a namespace being deleted (403,
    NamespaceTerminating cause): the cluster is going away with it."""
    causes = (err.status.details.causes if err.status.details else None) or []
    return err.status.code == 403 and any(c.reason == "NamespaceTerminating" for c in causes)


class Kube:
    """Reads, applies and deletes, counting writes per verb and kind (in
    `writes`, and in the Prometheus metrics when given). With `is_leader`,
    every write is refused (`NotLeader`, before any request) unless it says
    this replica leads at that moment."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        field_manager: str = FIELD_MANAGER,
        metrics: Metrics | None = None,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self.client = client
        self.field_manager = field_manager
        self.metrics = metrics
        self.is_leader = is_leader
        self.writes: Counter[str] = Counter()

    def _may_write(self) -> None:
        if not self.is_leader():
            raise NotLeader("this replica does not hold the Lease: no write")

    def _count(self, verb: str, kind: str) -> None:
        self.writes[f"{verb} {kind}"] += 1
        if self.metrics is not None:
            self.metrics.count_write(verb, kind)

    async def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            res = RESOURCES[kind]
            return to_dict(await self.client.get(res, name, namespace=namespace or None))
        except ApiError as err:
            if is_not_found(err):
                return None
            raise

    async def list(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        selector: dict[str, Any] = dict(labels)
        items = self.client.list(RESOURCES[kind], namespace=namespace, labels=selector)
        return [to_dict(o) async for o in items]

    async def live_of(self, manifest: Manifest) -> dict[str, Any] | None:
        """The stored object a manifest describes (None: it does not exist)."""
        meta = manifest["metadata"]
        return await self.get(manifest["kind"], meta["name"], meta["namespace"])

    async def apply(
        self, manifest: Manifest, live: dict[str, Any] | None, *, guard: bool = False
    ) -> bool:
        """Server-side apply `manifest`, stamped with its hash, unless `live`,
        the object as the caller read it (None: absent), already matches.
        `guard`: send live's resourceVersion as a precondition, so the write
        fails with a 409 Conflict if the object changed since that read.
        Returns whether a write was made."""
        kind, meta = manifest["kind"], manifest["metadata"]
        if live is not None and unchanged(live, manifest):
            return False
        self._may_write()
        body = stamped(manifest)
        version = ((live or {}).get("metadata") or {}).get("resourceVersion")
        if guard and version:
            body["metadata"]["resourceVersion"] = version
        await self.client.patch(
            RESOURCES[kind],
            meta["name"],
            body,
            namespace=meta["namespace"],
            patch_type=PatchType.APPLY,
            field_manager=self.field_manager,
            force=True,
        )
        self._count("apply", kind)
        return True

    async def create(self, manifest: Manifest) -> bool:
        """Create `manifest` as it is; False when it already exists (409).
        For objects whose content must never be overwritten (a generated
        password)."""
        self._may_write()
        kind = manifest["kind"]
        try:
            await self.client.create(RESOURCES[kind].from_dict(manifest))
        except ApiError as err:
            if is_conflict(err):
                return False
            raise
        self._count("create", kind)
        return True

    async def apply_status(self, kind: str, name: str, namespace: str, body: Manifest) -> None:
        self._may_write()
        res = RESOURCES[kind]
        await self.client.patch(
            res.Status,
            name,
            body,
            namespace=namespace,
            patch_type=PatchType.APPLY,
            field_manager=self.field_manager,
            force=True,
        )
        self._count("status", kind)

    async def delete(self, kind: str, name: str, namespace: str, *, orphan: bool = False) -> None:
        """Delete (`orphan`: with propagationPolicy Orphan, its dependents stay)."""
        self._may_write()
        cascade = CascadeType.ORPHAN if orphan else None
        try:
            await self.client.delete(RESOURCES[kind], name, namespace=namespace, cascade=cascade)
        except ApiError as err:
            if not is_not_found(err):
                raise
        self._count("delete", kind)

    async def merge_patch(
        self, kind: str, name: str, namespace: str, patch: dict[str, Any]
    ) -> None:
        """A JSON merge patch (an update, not an apply: the fields it sets are
        not owned by the apply of this field manager, which never removes them)."""
        self._may_write()
        await self.client.patch(
            RESOURCES[kind],
            name,
            patch,
            namespace=namespace,
            patch_type=PatchType.MERGE,
            field_manager=self.field_manager,
        )
        self._count("patch", kind)

    async def event(
        self, involved: dict[str, Any], *, reason: str, message: str, warning: bool = False
    ) -> None:
        """A core/v1 Event on `involved` (what `kubectl describe` shows)."""
        self._may_write()
        meta = involved["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": self.field_manager},
            "reportingComponent": self.field_manager,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        event: Any = Event.from_dict(body)
        await self.client.create(event)
        self._count("create", "Event")

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())
