"""The Node object and its heartbeats: registration, status and the Lease.

Builders are pure; `NodeHeartbeat` owns the loop that keeps the node Ready.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from typing import Any

import httpx2

from navigator.local.agent import clock
from navigator.local.agent.config import AgentConfig
from navigator.local.agent.kube import ApiError, Kube, Obj
from navigator.versions import pinned

log = logging.getLogger(__name__)

ZONE_LABEL = "topology.kubernetes.io/zone"
LEASE_NAMESPACE = "kube-node-lease"
AGENT_VERSION = "navigator-agent"


def node_labels(cfg: AgentConfig) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": cfg.node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        ZONE_LABEL: cfg.zone,
    }


def ready_condition(ready: bool, *, message: str = "", now: str | None = None) -> Obj:
    stamp = now or clock.rfc3339()
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": message or ("node agent is posting ready status" if ready else "not ready"),
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


def pressure_conditions(now: str) -> list[Obj]:
    return [
        {
            "type": kind,
            "status": "False",
            "reason": f"KubeletHasSufficient{short}",
            "message": f"node agent has sufficient {short.lower()}",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for kind, short in (
            ("MemoryPressure", "Memory"),
            ("DiskPressure", "Disk"),
            ("PIDPressure", "PID"),
        )
    ]


def node_status(cfg: AgentConfig, *, ready: bool, message: str = "") -> Obj:
    now = clock.rfc3339()
    quantities = cfg.resources.as_quantities()
    return {
        "capacity": quantities,
        "allocatable": quantities,
        "addresses": [
            {"type": "InternalIP", "address": cfg.node_ip},
            {"type": "Hostname", "address": cfg.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.kubelet_port}},
        "nodeInfo": {
            "machineID": cfg.node_name,
            "systemUUID": cfg.node_name,
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": "Navigator local node",
            "containerRuntimeVersion": f"{AGENT_VERSION}://{pinned().kubernetes}",
            "kubeletVersion": pinned().kubernetes,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "conditions": [*pressure_conditions(now), ready_condition(ready, message=message, now=now)],
    }


STARTING = "node agent starting"


def node_object(cfg: AgentConfig) -> Obj:
    """The Node as registered: NotReady until the agent can run pods (see `NodeHeartbeat`)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": cfg.node_name, "labels": node_labels(cfg)},
        "spec": {},
        "status": node_status(cfg, ready=False, message=STARTING),
    }


def owner_reference(node_uid: str, name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}


def lease_object(cfg: AgentConfig, node_uid: str) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": cfg.node_name,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [owner_reference(node_uid, cfg.node_name)],
        },
        "spec": {
            "holderIdentity": cfg.node_name,
            "leaseDurationSeconds": cfg.lease_seconds,
            "renewTime": clock.micro(),
        },
    }


def renewed_lease(lease: Obj, cfg: AgentConfig, node_uid: str) -> Obj:
    """`lease` renewed now, and owned by this node object.

    A Lease left by an earlier Node of the same name (deleted, then registered
    again) still names the old Node's UID: the garbage collector would delete
    it as an orphan, so the owner is replaced.
    """
    spec = {
        **lease.get("spec", {}),
        "holderIdentity": cfg.node_name,
        "leaseDurationSeconds": cfg.lease_seconds,
        "renewTime": clock.micro(),
    }
    meta = {**lease["metadata"]}
    others = [r for r in meta.get("ownerReferences", []) if r.get("kind") != "Node"]
    meta["ownerReferences"] = [*others, owner_reference(node_uid, cfg.node_name)]
    return {**lease, "metadata": meta, "spec": spec}


def _keep_transition(new: list[Obj], old: list[Obj]) -> list[Obj]:
    """A condition's lastTransitionTime only moves when its status changes."""
    before = {c["type"]: c for c in old}
    out = []
    for cond in new:
        prev = before.get(cond["type"])
        kept = prev is not None and prev.get("status") == cond["status"]
        since = prev.get("lastTransitionTime") if prev and kept else cond["lastTransitionTime"]
        out.append({**cond, "lastTransitionTime": since})
    return out


class NodeHeartbeat:
    """Registers the node, then renews its Lease and posts its status.

    The node is registered (or, when it exists, reported) NotReady; `main`
    posts Ready only once the Lease exists, the pod CIDR is assigned and the
    pod machinery is up, so whoever waits for Ready finds all of those.
    """

    def __init__(self, cfg: AgentConfig, kube: Kube) -> None:
        self.cfg = cfg
        self.kube = kube
        self.node: Obj = {}

    @property
    def path(self) -> str:
        return f"/api/v1/nodes/{self.cfg.node_name}"

    @property
    def lease_path(self) -> str:
        return (
            f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.cfg.node_name}"
        )

    async def register(self) -> Obj:
        try:
            self.node = await self.kube.create("/api/v1/nodes", node_object(self.cfg))
        except ApiError as err:
            if err.status != 409:
                raise
            self.node = await self.kube.get(self.path)
            await self.post_status(ready=False, message=STARTING)
        return self.node

    async def pod_cidr(self, within: float = 60.0) -> str:
        """Wait for the controller-manager's node IPAM to assign this node's pod CIDR."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            self.node = await self.kube.get(self.path)
            cidr: str | None = self.node.get("spec", {}).get("podCIDR")
            if cidr:
                return cidr
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"node {self.cfg.node_name}: no podCIDR after {within:.0f}s")
            await asyncio.sleep(0.5)

    async def post_status(self, *, ready: bool, message: str = "") -> None:
        status = node_status(self.cfg, ready=ready, message=message)
        old = self.node.get("status", {}).get("conditions", [])
        status["conditions"] = _keep_transition(status["conditions"], old)
        self.node = await self.kube.patch(f"{self.path}/status", {"status": status})

    async def renew_lease(self) -> Obj:
        """Create or renew the Lease; the Lease as stored."""
        uid = self.node["metadata"]["uid"]
        for _ in range(3):
            lease: Any = await self.kube.get_or_none(self.lease_path)
            try:
                if lease is None:
                    return await self.kube.create(
                        f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases",
                        lease_object(self.cfg, uid),
                    )
                return await self.kube.put(self.lease_path, renewed_lease(lease, self.cfg, uid))
            except ApiError as err:
                # Created, deleted (garbage collector) or changed meanwhile: look again.
                if err.status not in (404, 409):
                    raise
        raise ApiError(409, f"lease {self.cfg.node_name}: conflicting updates")

    async def run(self) -> None:
        while True:
            try:
                await self.renew_lease()
                await self.post_status(ready=True)
            except (ApiError, httpx2.HTTPError) as err:
                log.warning("heartbeat failed: %s", err)
            await asyncio.sleep(self.cfg.heartbeat_seconds)
