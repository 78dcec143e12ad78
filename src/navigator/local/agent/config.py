"""What one node agent needs to know: its node, its identity and the cluster's network.

Built by `navigator local up` (one file per node) and read by the agent process.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class NodeResources:
    """Capacity reported by every node (allocatable is the same here)."""

    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 110
    ephemeral_storage: str = "50Gi"

    def as_quantities(self) -> dict[str, str]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": self.ephemeral_storage,
        }


@dataclass(frozen=True)
class AgentConfig:
    """One node agent's settings (serialised to JSON for the agent process)."""

    node_name: str
    node_ip: str
    zone: str
    state_dir: Path  # this node's own directory
    server: str
    ca_file: Path
    cert_file: Path  # client identity system:node:<name>
    key_file: Path
    serving_cert_file: Path  # the kubelet endpoint's certificate (SAN: node_ip)
    serving_key_file: Path
    provisioner_cert_file: Path  # identity of the local volume provisioner
    provisioner_key_file: Path
    bridge_netns: str
    host_ip: str
    pod_cidr: str
    apiserver_port: int
    cluster_domain: str = "cluster.local"
    kubelet_port: int = 10250
    resources: NodeResources = field(default_factory=NodeResources)
    lease_seconds: int = 40
    heartbeat_seconds: float = 10.0
    image_root: Path | None = None  # image store root (default: the cache)

    @property
    def pod_prefix_len(self) -> int:
        return ipaddress.ip_network(self.pod_cidr).prefixlen

    @property
    def dns_ip(self) -> str:
        return self.host_ip

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    @property
    def volumes_dir(self) -> Path:
        return self.state_dir / "volumes"

    @property
    def netns_prefix(self) -> str:
        """Pod network namespaces are named `<bridge netns>-<node index>-<pod>`."""
        return f"{self.bridge_netns}-{self.node_name.rsplit('-', 1)[-1]}-"

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AgentConfig:
        data = json.loads(text)
        paths = {f.name for f in fields(cls) if "Path" in str(f.type)}
        for key in paths:
            if data.get(key) is not None:
                data[key] = Path(data[key])
        data["resources"] = NodeResources(**data.get("resources", {}))
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        return cls.from_json(path.read_text())
