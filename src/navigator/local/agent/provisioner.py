"""Dynamic provisioning of node-local volumes for the `local` StorageClass.

Each agent provisions for the claims the scheduler placed on its own node
(annotation ``volume.kubernetes.io/selected-node``, set for WaitForFirstConsumer
classes): a directory under the node's state, a PV with a `local` source and
node affinity to this node, pre-bound to the claim. When a PV of ours with
reclaim policy Delete is released, its data and the PV are deleted.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import httpx2

from navigator.local.agent.config import AgentConfig
from navigator.local.agent.kube import ApiError, Kube, Obj

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


def volume_for(claim: Obj, sc: Obj, node: str, path: Path) -> Obj:
    meta, spec = claim["metadata"], claim["spec"]
    size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
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
            except (ApiError, httpx2.HTTPError, OSError) as err:
                log.warning("provisioning %s: %s", claim["metadata"].get("name"), err)

    async def _provision(self, claim: Obj, sc: Obj) -> None:
        path = self.cfg.volumes_dir / pv_name(claim)
        path.mkdir(parents=True, exist_ok=True)
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
            shutil.rmtree(path, ignore_errors=True)
        try:
            await self.kube.delete(f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
        except ApiError as err:
            if err.status != 404:
                raise
        log.info("deleted %s and its data", pv["metadata"]["name"])
