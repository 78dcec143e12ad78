"""pytest fixtures for tests against the real local Kubernetes control plane.

- `local_cluster` (session): a running local cluster. By default the session
  starts its own in `build/test-cluster` (ports and network of its own, so it
  does not disturb a demo cluster) and stops it at the end. With
  `NAVIGATOR_TEST_REUSE_CLUSTER=1` it uses (and leaves running) the cluster
  of the default state directory, which makes repeated local runs fast.
- `namespace` (function): a fresh namespace, deleted afterwards.
- `kube` (function): a `lightkube.Client` with the admin identity.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from navigator.local import cluster
from navigator.local.controlplane import ClusterConfig
from navigator.local.paths import Binaries, default_state_dir

REUSE_ENV = "NAVIGATOR_TEST_REUSE_CLUSTER"


SLOT_ENV = "NAVIGATOR_TEST_SLOT"


def session_slot() -> int:
    """`$NAVIGATOR_TEST_SLOT` (0-9): lets concurrent test sessions on one machine coexist."""
    slot = int(os.environ.get(SLOT_ENV, "0"))
    if not 0 <= slot <= 9:
        raise ValueError(f"{SLOT_ENV} must be 0-9, not {slot}")
    return slot


def isolated_cluster_config(state_dir: Path, slot: int = 0) -> ClusterConfig:
    """Settings for a test-owned cluster: nothing shared with a demo cluster
    or with a test cluster of another slot (ports, addresses, netns)."""
    return ClusterConfig(
        state_dir=state_dir,
        apiserver_port=16443 + 100 * slot,
        etcd_client_port=12379 + 100 * slot,
        etcd_peer_port=12380 + 100 * slot,
        controller_manager_port=20257 + 100 * slot,
        scheduler_port=20259 + 100 * slot,
        host_ip=f"10.{243 - slot}.255.254",
        pod_cidr=f"10.{243 - slot}.0.0/16",
        service_cidr=f"10.{95 - slot}.0.0/16",
        kubernetes_service_ip=f"10.{95 - slot}.0.1",
        netns=f"navigator-test{slot}",
        host_veth=f"nav-test{slot}",
    )


@dataclass(frozen=True)
class LocalCluster:
    """A handle on a running local cluster for tests."""

    config: ClusterConfig
    binaries: Binaries

    @property
    def kubeconfig(self) -> Path:
        return self.config.layout.admin_kubeconfig

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against this cluster."""
        proc = subprocess.run(
            self.kubectl_argv(*args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def kubectl_argv(self, *args: str) -> list[str]:
        """The command line of the pinned kubectl against this cluster."""
        return [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args]

    def client(self) -> Client:
        return Client(config=KubeConfig.from_file(self.kubeconfig), field_manager="navigator-tests")


def _repo_build_dir() -> Path:
    return Path(os.environ.get("NAVIGATOR_BUILD_DIR", Path.cwd() / "build"))


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    bins = Binaries.from_cache()
    if os.environ.get(REUSE_ENV) == "1":
        state = default_state_dir().resolve()
        cfg = cluster.load_config(state) or ClusterConfig(state_dir=state)
        cluster.up(cfg, bins=bins)
        yield LocalCluster(cfg, bins)
        return
    slot = session_slot()
    cfg = isolated_cluster_config((_repo_build_dir() / f"test-cluster-{slot}").resolve(), slot)
    try:
        started = cluster.up(cfg, bins=bins)
    except cluster.LocalClusterError as err:
        pytest.fail(f"could not start the local test cluster: {err}", pytrace=False)
    try:
        yield LocalCluster(cfg, bins)
    finally:
        # A cluster another pytest session started (same work tree) is theirs to stop.
        if started:
            cluster.down(cfg, bins=bins)


CRD_DIR = Path(__file__).resolve().parents[3] / "deploy" / "crds"


def crd_plurals() -> list[str]:
    """`<plural>.<group>` of every CRD in deploy/crds (each kind there is installed)."""
    names = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
    return names


def install_crds(local: LocalCluster) -> None:
    """Apply deploy/crds and wait until every kind there can be listed (a new CRD
    answers 429 for a moment after it is Established)."""
    names = crd_plurals()
    local.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    crds = [f"crd/{name}" for name in names]
    local.kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds, timeout=90)
    for _ in range(120):
        got = local.kubectl("get", ",".join(names), "-A", check=False)
        if got.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"CRDs never became listable: {got.stderr}")


@pytest.fixture(scope="session")
def navigator_crds(local_cluster: LocalCluster) -> None:
    """Navigator's CRDs installed in the session's cluster."""
    install_crds(local_cluster)


@pytest.fixture
def kube(local_cluster: LocalCluster) -> Client:
    return local_cluster.client()


@pytest.fixture
def namespace(local_cluster: LocalCluster) -> Iterator[str]:
    client = local_cluster.client()
    name = f"test-{secrets.token_hex(4)}"
    client.create(Namespace(metadata=ObjectMeta(name=name, labels={"navigator.dev/test": "true"})))
    try:
        yield name
    finally:
        client.delete(Namespace, name)
