"""Volume expansion on the local cluster, pure parts: which claim grows, to
what, and how large a volume's image is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from navigator.local.agent import disks, fleet, provisioner

pytestmark = pytest.mark.unit

MiB = 2**20


def claim(requested: str, capacity: str = "1Gi", *, phase: str = "Bound") -> dict[str, Any]:
    return {
        "metadata": {"name": "data-web-0", "namespace": "ns1", "uid": "c-1"},
        "spec": {"volumeName": "pvc-c-1", "resources": {"requests": {"storage": requested}}},
        "status": {"phase": phase, "capacity": {"storage": capacity}},
    }


def pv(capacity: str = "1Gi", node: str = "local-node-1") -> dict[str, Any]:
    return {
        "metadata": {"name": "pvc-c-1", "labels": {provisioner.NODE_LABEL: node}},
        "spec": {"capacity": {"storage": capacity}},
    }


def test_a_bound_claim_asking_for_more_than_its_volume_grows_to_its_request() -> None:
    assert provisioner.growth(claim("2Gi"), pv(), "local-node-1") == "2Gi"
    # however the quantity is spelled
    assert provisioner.growth(claim("1024Mi"), pv(), "local-node-1") is None
    assert provisioner.growth(claim("1Gi"), pv(), "local-node-1") is None


def test_only_the_agent_of_the_volumes_node_grows_a_bound_claim() -> None:
    assert provisioner.growth(claim("2Gi"), pv(node="local-node-2"), "local-node-1") is None
    assert provisioner.growth(claim("2Gi", phase="Pending"), pv(), "local-node-1") is None
    other = {**claim("2Gi"), "spec": {"volumeName": "pvc-other"}}
    assert provisioner.growth(other, pv(), "local-node-1") is None


def test_an_expansion_cut_short_after_the_pv_grew_is_finished_for_the_claim() -> None:
    """The PV already says 2Gi, the claim's status still 1Gi: grow (again, harmless)."""
    assert provisioner.growth(claim("2Gi", "1Gi"), pv("2Gi"), "local-node-1") == "2Gi"
    assert provisioner.growth(claim("2Gi", "2Gi"), pv("2Gi"), "local-node-1") is None


def test_the_claims_status_after_growing_clears_the_resize_conditions() -> None:
    status = provisioner.resized_claim_status("2Gi")["status"]
    assert status["capacity"] == {"storage": "2Gi"}
    assert status["allocatedResources"] == {"storage": "2Gi"}
    assert status["conditions"] is None  # merge patch: removed


def test_an_image_is_at_least_the_xfs_minimum_and_whole_mebibytes() -> None:
    assert disks.image_bytes("64Mi") == disks.MIN_BYTES
    assert disks.image_bytes("1Gi") == 1024 * MiB
    assert disks.image_bytes("1G") == 954 * MiB  # 10^9 bytes, rounded up
    assert disks.image_of(Path("/v/pvc-1")) == Path("/v/pvc-1.img")


def test_the_local_storage_class_allows_expansion() -> None:
    sc = next(o for o in fleet.cluster_objects() if o["kind"] == "StorageClass")
    assert sc["allowVolumeExpansion"] is True
    role = next(
        o for o in fleet.cluster_objects() if o["metadata"]["name"] == "navigator:local-provisioner"
    )
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "persistentvolumeclaims/status" in resources


def test_only_volume_mounts_below_a_state_dir_are_swept(tmp_path: Path, monkeypatch: Any) -> None:
    info = tmp_path / "mountinfo"
    root = tmp_path / "state"
    info.write_text(
        f"36 35 7:0 / {root}/nodes/n1/volumes/pvc-a rw - xfs /dev/loop0 rw\n"
        f"37 35 0:5 / {root}/nodes/n1/pods/x/etc rw - tmpfs t rw\n"
        "38 35 7:1 / /elsewhere/volumes/pvc-b rw - xfs /dev/loop1 rw\n"
    )
    real_open = open
    monkeypatch.setattr(
        "builtins.open",
        lambda p, *a, **k: real_open(info if p == "/proc/self/mountinfo" else p, *a, **k),
    )
    assert disks.mounts_under(root) == [root / "nodes/n1/volumes/pvc-a"]
