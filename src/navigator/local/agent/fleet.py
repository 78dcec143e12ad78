"""The local cluster's nodes as a whole: how many, where, with which identities.

Pure builders used by `navigator local up`: per node an `AgentConfig`, its
certificates, and the cluster-scoped objects the agents rely on (RBAC for the
volume provisioner and CoreDNS, the default StorageClass).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from navigator.local.agent.config import AgentConfig, NodeResources
from navigator.local.controlplane import ClusterConfig
from navigator.local.pki import CertSpec

PROVISIONER = "navigator.dev/local"
STORAGE_CLASS = "local"
PROVISIONER_USER = "navigator:local-provisioner"
COREDNS_USER = "navigator:coredns"
DEFAULT_ZONES = ("zone-a", "zone-b", "zone-c")


@dataclass(frozen=True)
class NodeSet:
    """How many nodes the local cluster has and what each looks like."""

    count: int = 3
    zones: tuple[str, ...] = DEFAULT_ZONES
    resources: NodeResources = field(default_factory=NodeResources)
    kubelet_port: int = 10250

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NodeSet:
        data = json.loads(text)
        return cls(
            count=data["count"],
            zones=tuple(data["zones"]),
            resources=NodeResources(**data["resources"]),
            kubelet_port=data["kubelet_port"],
        )


def node_name(index: int) -> str:
    return f"local-node-{index}"


def node_ip(cfg: ClusterConfig, index: int) -> str:
    """Each node's InternalIP: just below the host's address on the pod network."""
    return str(ipaddress.ip_address(cfg.host_ip) - index)


def zone_of(nodes: NodeSet, index: int) -> str:
    return nodes.zones[(index - 1) % len(nodes.zones)]


def nodes_dir(cfg: ClusterConfig) -> Path:
    return cfg.state_dir / "nodes"


def agent_config_path(cfg: ClusterConfig, index: int) -> Path:
    return nodes_dir(cfg) / node_name(index) / "agent.json"


def certificate_specs(cfg: ClusterConfig, nodes: NodeSet) -> list[CertSpec]:
    specs = [
        CertSpec("local-provisioner", PROVISIONER_USER, client=True),
        CertSpec("coredns", COREDNS_USER, client=True),
    ]
    for i in range(1, nodes.count + 1):
        name = node_name(i)
        specs.append(
            CertSpec(f"{name}-client", f"system:node:{name}", ("system:nodes",), client=True)
        )
        specs.append(
            CertSpec(
                f"{name}-serving",
                f"system:node:{name}",
                ("system:nodes",),
                dns_names=(name,),
                ip_addresses=(node_ip(cfg, i),),
                server=True,
            )
        )
    return specs


def agent_configs(cfg: ClusterConfig, nodes: NodeSet) -> list[AgentConfig]:
    pki = cfg.layout.pki
    out = []
    for i in range(1, nodes.count + 1):
        name = node_name(i)
        out.append(
            AgentConfig(
                node_name=name,
                node_ip=node_ip(cfg, i),
                zone=zone_of(nodes, i),
                state_dir=nodes_dir(cfg) / name,
                server=cfg.server_url,
                ca_file=pki / "ca.crt",
                cert_file=pki / f"{name}-client.crt",
                key_file=pki / f"{name}-client.key",
                serving_cert_file=pki / f"{name}-serving.crt",
                serving_key_file=pki / f"{name}-serving.key",
                provisioner_cert_file=pki / "local-provisioner.crt",
                provisioner_key_file=pki / "local-provisioner.key",
                bridge_netns=cfg.netns,
                host_ip=cfg.host_ip,
                pod_cidr=cfg.pod_cidr,
                apiserver_port=cfg.apiserver_port,
                cluster_domain=cfg.cluster_domain,
                kubelet_port=nodes.kubelet_port,
                resources=nodes.resources,
            )
        )
    return out


def cluster_objects() -> list[dict[str, Any]]:
    """Cluster-scoped objects the agents and CoreDNS need (applied by `local up`)."""
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
            # Volumes are XFS images that grow online (navigator.local.agent.disks).
            "allowVolumeExpansion": True,
        },
        _cluster_role(
            "navigator:local-provisioner",
            [
                _rule(
                    "", ["persistentvolumes"], ["get", "list", "watch", "create", "patch", "delete"]
                ),
                _rule("", ["persistentvolumeclaims"], ["get", "list", "watch"]),
                # Expansion: the claim's capacity once its volume has grown.
                _rule("", ["persistentvolumeclaims/status"], ["patch"]),
                _rule("storage.k8s.io", ["storageclasses"], ["get", "list", "watch"]),
                _rule("", ["events"], ["create", "patch"]),
            ],
        ),
        _binding("navigator:local-provisioner", PROVISIONER_USER),
        _cluster_role(
            "navigator:coredns",
            [
                _rule("", ["endpoints", "services", "pods", "namespaces"], ["list", "watch"]),
                _rule("discovery.k8s.io", ["endpointslices"], ["list", "watch"]),
            ],
        ),
        _binding("navigator:coredns", COREDNS_USER),
    ]


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def _binding(role: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
