"""What the local control plane is: its settings and, per component, the exact
command line, health endpoint and credentials. Pure data and pure builders;
starting processes happens in `navigator.local.cluster`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from navigator.local.paths import Binaries, StateLayout
from navigator.local.pki import CertSpec


@dataclass(frozen=True)
class ClusterConfig:
    """Settings of one local cluster. Everything has a safe default."""

    state_dir: Path
    apiserver_port: int = 6443
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    controller_manager_port: int = 10257
    scheduler_port: int = 10259
    # The host's own address on the pod network: the API server advertises it,
    # so the `kubernetes` Service endpoints are reachable from pods.
    host_ip: str = "10.244.255.254"
    pod_cidr: str = "10.244.0.0/16"
    node_cidr_mask: int = 24
    service_cidr: str = "10.96.0.0/16"
    kubernetes_service_ip: str = "10.96.0.1"
    cluster_domain: str = "cluster.local"
    cluster_name: str = "navigator-local"
    netns: str = "navigator"
    host_veth: str = "nav-host"

    @property
    def layout(self) -> StateLayout:
        return StateLayout(self.state_dir)

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"https://127.0.0.1:{self.etcd_client_port}"

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["state_dir"] = str(self.state_dir)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClusterConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["state_dir"] = Path(data["state_dir"])
        return cls(**data)


def certificate_specs(cfg: ClusterConfig) -> list[CertSpec]:
    """Every leaf certificate the control plane needs."""
    svc = "kubernetes.default.svc"
    return [
        CertSpec(
            "etcd-server",
            "etcd",
            dns_names=("localhost",),
            ip_addresses=("127.0.0.1",),
            server=True,
            client=True,
        ),
        CertSpec("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
        CertSpec(
            "apiserver",
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                svc,
                f"{svc}.{cfg.cluster_domain}",
            ),
            ip_addresses=("127.0.0.1", cfg.host_ip, cfg.kubernetes_service_ip),
            server=True,
        ),
        CertSpec(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            organizations=("system:masters",),
            client=True,
        ),
        CertSpec("admin", "kubernetes-admin", organizations=("system:masters",), client=True),
        CertSpec("controller-manager", "system:kube-controller-manager", client=True),
        CertSpec("scheduler", "system:kube-scheduler", client=True),
    ]


@dataclass(frozen=True)
class Component:
    """One control-plane process: how to run it and how to tell it is healthy."""

    name: str
    argv: tuple[str, ...]
    health_url: str
    port: int


def components(cfg: ClusterConfig, bins: Binaries) -> list[Component]:
    """The control plane in start order (each depends on the ones before)."""
    return [
        etcd(cfg, bins),
        kube_apiserver(cfg, bins),
        kube_controller_manager(cfg, bins),
        kube_scheduler(cfg, bins),
    ]


def etcd(cfg: ClusterConfig, bins: Binaries) -> Component:
    pki = cfg.layout.pki
    peer = f"http://127.0.0.1:{cfg.etcd_peer_port}"
    argv = (
        str(bins.etcd),
        "--name=local",
        f"--data-dir={cfg.layout.etcd_data}",
        f"--listen-client-urls={cfg.etcd_url}",
        f"--advertise-client-urls={cfg.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=local={peer}",
        "--initial-cluster-state=new",
        f"--cert-file={pki / 'etcd-server.crt'}",
        f"--key-file={pki / 'etcd-server.key'}",
        f"--trusted-ca-file={pki / 'ca.crt'}",
        "--client-cert-auth=true",
        "--listen-metrics-urls=http://127.0.0.1:0",
        "--quota-backend-bytes=2147483648",
        "--snapshot-count=10000",
        "--log-level=warn",
    )
    return Component("etcd", argv, f"{cfg.etcd_url}/health", cfg.etcd_client_port)


def kube_apiserver(cfg: ClusterConfig, bins: Binaries) -> Component:
    pki = cfg.layout.pki
    argv = (
        str(bins.kube_apiserver),
        f"--etcd-servers={cfg.etcd_url}",
        f"--etcd-cafile={pki / 'ca.crt'}",
        f"--etcd-certfile={pki / 'apiserver-etcd-client.crt'}",
        f"--etcd-keyfile={pki / 'apiserver-etcd-client.key'}",
        "--bind-address=0.0.0.0",
        f"--secure-port={cfg.apiserver_port}",
        f"--advertise-address={cfg.host_ip}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--authorization-mode=Node,RBAC",
        # The default admission plugins stay on; NodeRestriction is added as
        # every production cluster does.
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        f"--service-cluster-ip-range={cfg.service_cidr}",
        f"--service-account-issuer=https://kubernetes.default.svc.{cfg.cluster_domain}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--api-audiences=https://kubernetes.default.svc.{cfg.cluster_domain}",
        "--profiling=false",
        "--v=1",
    )
    return Component("kube-apiserver", argv, f"{cfg.server_url}/readyz", cfg.apiserver_port)


def kube_controller_manager(cfg: ClusterConfig, bins: Binaries) -> Component:
    pki = cfg.layout.pki
    kubeconfig = cfg.layout.kubeconfig("controller-manager")
    argv = (
        str(bins.kube_controller_manager),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={cfg.controller_manager_port}",
        f"--cluster-name={cfg.cluster_name}",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--allocate-node-cidrs=true",
        f"--cluster-cidr={cfg.pod_cidr}",
        f"--node-cidr-mask-size={cfg.node_cidr_mask}",
        f"--service-cluster-ip-range={cfg.service_cidr}",
        "--profiling=false",
        "--v=1",
    )
    url = f"https://127.0.0.1:{cfg.controller_manager_port}/healthz"
    return Component("kube-controller-manager", argv, url, cfg.controller_manager_port)


def kube_scheduler(cfg: ClusterConfig, bins: Binaries) -> Component:
    kubeconfig = cfg.layout.kubeconfig("scheduler")
    argv = (
        str(bins.kube_scheduler),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={cfg.scheduler_port}",
        "--profiling=false",
        "--v=1",
    )
    url = f"https://127.0.0.1:{cfg.scheduler_port}/healthz"
    return Component("kube-scheduler", argv, url, cfg.scheduler_port)
