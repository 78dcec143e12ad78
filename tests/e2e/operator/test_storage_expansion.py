"""Issue 13's storage expansion, end to end: raising `persistence.size` of a
running cluster grows every member's volume in place, visible in the claims
and inside the pods (`df`), with no pod replaced and no container restarted.
Before that, the same raise in a StorageClass that does not allow expansion
is refused with its rule (`StorageClassAllowsExpansion`) and a Warning event,
and nothing is patched.

One pool of two members (the least that shows every member's claim patched
and the re-created StatefulSet adopting more than one pod), 1Gi → 2Gi.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from navigator.testing.members import eventually
from navigator.versions import pinned

from .conftest import Env, is_settled, manifest, pool

pytestmark = [pytest.mark.e2e, pytest.mark.full, pytest.mark.timeout(1200)]

NAME = "grow"
POOL = "rack1"
MEMBERS = (f"{NAME}-{POOL}-0", f"{NAME}-{POOL}-1")
CLAIMS = tuple(f"data-{m}" for m in MEMBERS)
SELECTOR = f"navigator.dev/cluster={NAME}"
STORAGE_CLASS = "local"
JOIN = 420.0
GiB = 2**30


def cluster(env: Env) -> dict[str, Any]:
    return env.cassandra(NAME)


def pods(env: Env) -> dict[str, dict[str, Any]]:
    items = (env.get("pods", selector=SELECTOR) or {}).get("items") or []
    return {p["metadata"]["name"]: p for p in items}


def incarnations(env: Env) -> dict[str, tuple[str, int]]:
    """Each member's pod UID and its container's restart count."""
    out = {}
    for name, pod in pods(env).items():
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        out[name] = (pod["metadata"]["uid"], sum(s.get("restartCount", 0) for s in statuses))
    return out


def capacity(env: Env, claim: str) -> str:
    pvc = env.get("pvc", claim) or {}
    return str(((pvc.get("status") or {}).get("capacity") or {}).get("storage", ""))


def requested(env: Env, claim: str) -> str:
    pvc = env.get("pvc", claim) or {}
    return str(pvc["spec"]["resources"]["requests"]["storage"])


def df_inside(env: Env, pod: dict[str, Any], path: str = "/var/lib/cassandra") -> int:
    """The size `df` reports for `path` inside the pod's cassandra container
    (entered like `kubectl exec` would: its namespaces, from the agent's state)."""
    node, uid = pod["spec"]["nodeName"], pod["metadata"]["uid"]
    state = env.cluster.config.state_dir / "nodes" / node / "pods" / uid
    pid = (state / "containers" / "cassandra" / "init.pid").read_text().split()[0]
    argv = ["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"]
    out = subprocess.run(
        [*argv, "df", "-P", "-B1", path], capture_output=True, text=True, timeout=30, check=True
    )
    return int(out.stdout.splitlines()[-1].split()[1])


def storage_class_expands(env: Env, allow: bool) -> None:
    patch = json.dumps({"allowVolumeExpansion": allow})
    env.cluster.kubectl("patch", "storageclass", STORAGE_CLASS, "--type=merge", "-p", patch)


def set_size(env: Env, size: str) -> None:
    path = "/spec/nodePools/0/persistence/size"
    env.patch_json("cassandracluster", NAME, [{"op": "replace", "path": path, "value": size}])


def blocked_rule(env: Env) -> str:
    operation = (cluster(env).get("status") or {}).get("operation") or {}
    return str((operation.get("blockedBy") or {}).get("rule", ""))


def test_create_two_members(operator_env: Env) -> None:
    env = operator_env
    started = time.monotonic()
    env.apply(manifest(NAME, [pool(POOL, len(MEMBERS))], version=pinned().cassandra))
    eventually(
        lambda: is_settled(cluster(env), len(MEMBERS)),
        timeout=len(MEMBERS) * JOIN,
        what="2 members Up/Normal",
    )
    env.record("storage suite: create 2 members", time.monotonic() - started, None)
    for pod in pods(env).values():
        assert 0.9 * GiB < df_inside(env, pod) <= GiB


def test_a_class_without_expansion_refuses_and_patches_nothing(operator_env: Env) -> None:
    env = operator_env
    storage_class_expands(env, False)
    try:
        set_size(env, "2Gi")
        eventually(
            lambda: blocked_rule(env) == "StorageClassAllowsExpansion",
            timeout=60,
            what="the expansion refused with StorageClassAllowsExpansion",
        )
        warnings = [e for e in env.events("Blocked") if e.get("type") == "Warning"]
        assert any("StorageClassAllowsExpansion" in e["message"] for e in warnings), warnings
        described = env.kubectl("describe", "cassandracluster", NAME)
        assert "allowVolumeExpansion" in described
        assert [requested(env, c) for c in CLAIMS] == ["1Gi", "1Gi"]
        sts = env.get("statefulset", f"{NAME}-{POOL}")
        vct = sts["spec"]["volumeClaimTemplates"][0]
        assert vct["spec"]["resources"]["requests"]["storage"] == "1Gi"
        assert not env.events("ExpandingStorage")
    finally:
        storage_class_expands(env, True)


def test_raising_the_size_grows_every_volume_in_place(operator_env: Env) -> None:
    """The size was raised to 2Gi by the refused scenario; with the class now
    allowing expansion, the operator's next pass grows the volumes."""
    env = operator_env
    before = incarnations(env)
    assert set(before) == set(MEMBERS)
    sts_uid = env.get("statefulset", f"{NAME}-{POOL}")["metadata"]["uid"]
    started = time.monotonic()
    eventually(
        lambda: all(capacity(env, c) == "2Gi" for c in CLAIMS),
        timeout=120,
        what="every member's claim at 2Gi",
    )
    claims_at = time.monotonic() - started
    eventually(
        lambda: is_settled(cluster(env), len(MEMBERS)),
        timeout=120,
        what="the cluster settled with no operation",
    )
    settled_at = time.monotonic() - started
    sizes = {name: df_inside(env, pod) for name, pod in pods(env).items()}
    assert all(1.9 * GiB < size <= 2 * GiB for size in sizes.values()), sizes
    # Nobody restarted: the same pods (UIDs) with the same restart counts.
    assert incarnations(env) == before
    sts = env.get("statefulset", f"{NAME}-{POOL}")
    assert sts["metadata"]["uid"] != sts_uid, "the StatefulSet was not re-created"
    vct = sts["spec"]["volumeClaimTemplates"][0]
    assert vct["spec"]["resources"]["requests"]["storage"] == "2Gi"
    for pod in pods(env).values():
        owners = pod["metadata"].get("ownerReferences") or []
        assert [o["uid"] for o in owners] == [sts["metadata"]["uid"]], owners
    assert env.events("ExpandingStorage")
    eventually(lambda: env.events("StorageExpanded"), timeout=30, what="StorageExpanded")
    env.record(
        "storage expansion 1Gi → 2Gi (2 members)",
        settled_at,
        None,
        notes=[
            f"every claim at 2Gi {claims_at:.1f} s after the class allowed expansion,"
            f" the cluster settled after {settled_at:.1f} s",
            "df inside the pods: " + ", ".join(f"{n} {s / GiB:.2f} GiB" for n, s in sizes.items()),
            "pods replaced: 0, containers restarted: 0",
        ],
    )
    print(f"\nclaims at 2Gi after {claims_at:.1f} s; settled after {settled_at:.1f} s; df {sizes}")
