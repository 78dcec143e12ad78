"""Where the local cluster keeps its binaries (cache) and its state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from navigator.versions import Versions, pinned


def cache_root() -> Path:
    """`$NAVIGATOR_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/navigator`."""
    if env := os.environ.get("NAVIGATOR_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "navigator"


def default_state_dir() -> Path:
    """`$NAVIGATOR_LOCAL_STATE`, else `${XDG_STATE_HOME:-~/.local/state}/navigator/local`."""
    if env := os.environ.get("NAVIGATOR_LOCAL_STATE"):
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "navigator" / "local"


@dataclass(frozen=True)
class Binaries:
    """Paths of the pinned control-plane binaries in the build cache."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path

    @classmethod
    def from_cache(cls, root: Path | None = None, versions: Versions | None = None) -> Binaries:
        root = root or cache_root()
        v = versions or pinned()
        k8s = root / "bin" / f"kubernetes-{v.kubernetes}"
        return cls(
            etcd=root / "bin" / f"etcd-{v.etcd}" / "etcd",
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            kubectl=k8s / "kubectl",
        )

    def missing(self) -> list[Path]:
        return [p for p in vars(self).values() if not os.access(p, os.X_OK)]


def helm_binary(root: Path | None = None, versions: Versions | None = None) -> Path:
    """The pinned helm in the build cache (`make helm`); the chart's tests and
    `make generate` use it, the local cluster does not."""
    v = versions or pinned()
    return (root or cache_root()) / "bin" / f"helm-{v.helm}" / "helm"


@dataclass(frozen=True)
class StateLayout:
    """The files of one local cluster under its state directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    def kubeconfig(self, component: str) -> Path:
        return self.root / "kubeconfigs" / f"{component}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    @property
    def config_file(self) -> Path:
        return self.root / "cluster.json"
