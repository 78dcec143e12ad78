"""Volume expansion on the local cluster: a claim of the `local` class grows
like one of a CSI driver that allows expansion, and the pod using it sees the
new size at once (`df` inside it), without a restart."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
from agent_helpers import Agents, eventually, exec_in, pod_manifest, web_container

from navigator.local.agent.testimage import PYTHON

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("xfs_growfs") is None, reason="xfsprogs not installed"),
]

MiB = 2**20
STATVFS = "import os, sys; s = os.statvfs(sys.argv[1]); print(s.f_blocks * s.f_frsize)"


def claim(size: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def size_inside(agents: Agents, pod: dict[str, Any]) -> int:
    """The volume's filesystem size as a process in the pod sees it (what `df` says)."""
    out = exec_in(agents.cluster, pod, PYTHON, "-c", STATVFS, "/data")
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.timeout(180)
def test_a_claim_grows_online_and_the_pod_sees_it(agents: Agents, namespace: str) -> None:
    sc = json.loads(agents.cluster.kubectl("get", "storageclass", "local", "-o", "json").stdout)
    assert sc.get("allowVolumeExpansion") is True

    container = web_container(volumeMounts=[{"name": "data", "mountPath": "/data"}])
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    agents.apply(namespace, claim("400Mi"), pod_manifest("web", container, volumes=volumes))
    pod = eventually(lambda: agents.ready(namespace, "web"), timeout=90)
    before = size_inside(agents, pod)
    assert 300 * MiB < before <= 400 * MiB, before  # XFS keeps a little for itself

    agents.cluster.kubectl(
        "patch", "pvc", "data", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"resources":{"requests":{"storage":"800Mi"}}}}',
    )  # fmt: skip

    def grown() -> Any:
        pvc = agents.get(namespace, "pvc", "data")
        capacity = pvc["status"].get("capacity", {}).get("storage")
        return pvc if capacity == "800Mi" else None

    pvc = eventually(grown, timeout=60)
    assert not pvc["status"].get("conditions")
    pv = agents.get("default", "pv", pvc["spec"]["volumeName"])
    assert pv["spec"]["capacity"]["storage"] == "800Mi"
    after = size_inside(agents, pod)
    assert 700 * MiB < after <= 800 * MiB, after

    now = agents.pod(namespace, "web")
    assert now["metadata"]["uid"] == pod["metadata"]["uid"]
    assert now["status"]["containerStatuses"][0]["restartCount"] == 0
    reasons = {e["reason"] for e in agents.events(namespace, "data")}
    assert "FileSystemResizeSuccessful" in reasons
