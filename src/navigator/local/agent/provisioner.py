"""Dynamic provisioning of node-local volumes for the `local` StorageClass.

Each agent provisions for the claims the scheduler placed on its own node
(annotation ``volume.kubernetes.io/selected-node``, set for WaitForFirstConsumer
classes): a directory under the node's state, a PV with a `local` source and
node affinity to this node, pre-bound to the claim. When a PV of ours with
reclaim policy Delete is released, its data and the PV are deleted.

A volume has a real size (an XFS image, see `disks`), and it grows as a CSI
driver that allows expansion grows it: when a bound claim asks for more than
its PV holds, the agent of the PV's node plays the external resizer and the
kubelet in one step: it extends the image and the mounted filesystem (online:
a running pod sees the new size at once), sets the PV's capacity, then the
claim's `status.capacity` and `allocatedResources`, and clears the resize
conditions. The API server lets a claim grow only in a class with
`allowVolumeExpansion: true`, which the `local` class has.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import httpx2

from navigator.local.agent import clock, disks
from navigator.local.agent.config import AgentConfig
from navigator.local.agent.kube import MERGE, ApiError, Kube, Obj
from navigator.quantity import quantity

log = logging.getLogger(__name__)

PROVISIONER = "navigator.dev/local"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
NODE_LABEL = "navigator.dev/local-node"


def pv_name(claim: Obj) -> str:
    return f"pvc-{claim['metadata']['uid']}"


def wants_volume(claim: Obj, node: str, classes: dict[str, Obj]) -> bool:
    meta, spec = claim["metadata"], claim.get("spec", {})
    if (meta.get("annotations") or {}).get(SELECTED_NODE) != node:
        return False
    if spec.get("volumeName") or meta.get("deletionTimestamp"):
        return False
    sc = classes.get(spec.get("storageClassName") or "")
    return sc is not None and sc.get("provisioner") == PROVISIONER


def requested(claim: Obj) -> str:
    return str(
        ((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "1Gi")
    )


def growth(claim: Obj, pv: Obj, node: str) -> str | None:
    """The size a bound claim asks its PV to grow to, or None: not ours (another
    provisioner or node), not bound to it, or not asking for more than both
    the PV's capacity and its own `status.capacity` (an expansion cut short
    between the two writes is finished on the claim's next event)."""
    spec = claim.get("spec") or {}
    labels = (pv.get("metadata") or {}).get("labels") or {}
    if labels.get(NODE_LABEL) != node or spec.get("volumeName") != pv["metadata"]["name"]:
        return None
    if (claim.get("status") or {}).get("phase") != "Bound":
        return None
    size = requested(claim)
    want = quantity(size)
    pv_has = quantity(((pv.get("spec") or {}).get("capacity") or {}).get("storage", "0"))
    claim_has = quantity(((claim.get("status") or {}).get("capacity") or {}).get("storage", "0"))
    if want is None or pv_has is None or claim_has is None or want <= min(pv_has, claim_has):
        return None
    return size


def resized_claim_status(size: str) -> Obj:
    """The claim's status once the volume and its filesystem have grown."""
    return {
        "status": {
            "capacity": {"storage": size},
            "allocatedResources": {"storage": size},
            "allocatedResourceStatuses": None,
            "conditions": None,
        }
    }


def volume_for(claim: Obj, sc: Obj, node: str, path: Path) -> Obj:
    meta, spec = claim["metadata"], claim["spec"]
    size = requested(claim)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": pv_name(claim),
            "labels": {NODE_LABEL: node},
            "annotations": {PROVISIONED_BY: PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "local": {"path": str(path)},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }


class Provisioner:
    def __init__(self, cfg: AgentConfig, kube: Kube) -> None:
        self.cfg = cfg
        self.kube = kube

    async def run(self) -> None:
        await asyncio.gather(self._claims(), self._released())

    async def _classes(self) -> dict[str, Obj]:
        listing = await self.kube.get("/apis/storage.k8s.io/v1/storageclasses")
        return {sc["metadata"]["name"]: sc for sc in listing.get("items", [])}

    async def _claims(self) -> None:
        async for kind, claim in self.kube.watch("/api/v1/persistentvolumeclaims"):
            if kind not in ("ADDED", "MODIFIED"):
                continue
            try:
                classes = await self._classes()
                if wants_volume(claim, self.cfg.node_name, classes):
                    await self._provision(claim, classes[claim["spec"]["storageClassName"]])
                elif claim.get("spec", {}).get("volumeName"):
                    await self._expand(claim)
            except (ApiError, httpx2.HTTPError, OSError) as err:
                log.warning("provisioning %s: %s", claim["metadata"].get("name"), err)

    async def _provision(self, claim: Obj, sc: Obj) -> None:
        path = self.cfg.volumes_dir / pv_name(claim)
        await disks.create(path, requested(claim))
        try:
            await self.kube.create(
                "/api/v1/persistentvolumes", volume_for(claim, sc, self.cfg.node_name, path)
            )
        except ApiError as err:
            if err.status != 409:
                raise
            return
        log.info(
            "provisioned %s for %s/%s",
            pv_name(claim),
            claim["metadata"]["namespace"],
            claim["metadata"]["name"],
        )

    async def _expand(self, claim: Obj) -> None:
        """Grow the claim's volume if it is ours and asks for more (see the module)."""
        pv = await self.kube.get_or_none(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
        size = growth(claim, pv, self.cfg.node_name) if pv else None
        if pv is None or size is None:
            return
        meta = claim["metadata"]
        path = Path((pv["spec"].get("local") or {}).get("path", ""))
        if path.is_relative_to(self.cfg.volumes_dir) and disks.is_sized(path):
            await disks.mount(path)  # staged on the host, as the kubelet would
            await disks.grow(path, size)
        await self.kube.patch(
            f"/api/v1/persistentvolumes/{pv['metadata']['name']}",
            {"spec": {"capacity": {"storage": size}}},
            kind=MERGE,
        )
        await self.kube.patch(
            f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{meta['name']}/status",
            resized_claim_status(size),
            kind=MERGE,
        )
        log.info(
            "expanded %s (%s/%s) to %s",
            pv["metadata"]["name"],
            meta["namespace"],
            meta["name"],
            size,
        )
        await self._event(
            claim, "FileSystemResizeSuccessful", f"volume and filesystem grown to {size}"
        )

    async def _event(self, claim: Obj, reason: str, message: str) -> None:
        meta = claim["metadata"]
        now = clock.rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": "Normal",
            "source": {"component": PROVISIONER, "host": self.cfg.node_name},
            "reportingComponent": PROVISIONER,
            "reportingInstance": self.cfg.node_name,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(f"/api/v1/namespaces/{meta['namespace']}/events", body)
        except ApiError as err:
            log.warning("event %s on %s: %s", reason, meta["name"], err)

    async def _released(self) -> None:
        selector = f"{NODE_LABEL}={self.cfg.node_name}"
        async for kind, pv in self.kube.watch("/api/v1/persistentvolumes", labelSelector=selector):
            if kind not in ("ADDED", "MODIFIED"):
                continue
            try:
                await self._reclaim(pv)
            except (ApiError, httpx2.HTTPError, OSError) as err:
                log.warning("reclaiming %s: %s", pv["metadata"]["name"], err)

    async def _reclaim(self, pv: Obj) -> None:
        spec = pv.get("spec", {})
        if pv.get("status", {}).get("phase") != "Released":
            return
        if spec.get("persistentVolumeReclaimPolicy") != "Delete":
            return
        path = Path(spec.get("local", {}).get("path", ""))
        if path.is_relative_to(self.cfg.volumes_dir):
            await disks.remove(path)
        try:
            await self.kube.delete(f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
        except ApiError as err:
            if err.status != 404:
                raise
        log.info("deleted %s and its data", pv["metadata"]["name"])
