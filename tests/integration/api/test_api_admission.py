"""Admission of the database kinds by the real API server: schema, defaults and CEL.

The invalid corpus lives in `invalid/*.yaml` (CassandraCluster) and
`invalid-search/*.yaml` (OpenSearchCluster, ElasticsearchCluster): `object` is
rejected (after `before` is stored, for transitions) with a message containing
every `expect` fragment, and nothing is stored. A case names its `kind` unless
it is a CassandraCluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[2] / "deploy" / "examples"
CORPUS = sorted((HERE / "invalid").glob("*.yaml")) + sorted(
    (HERE / "invalid-search").glob("*.yaml")
)


def manifest(
    spec: dict[str, Any], name: str = "c", kind: str = "CassandraCluster"
) -> dict[str, Any]:
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def apply(cluster: Any, ns: str, obj: dict[str, Any], *, check: bool = True) -> Any:
    return cluster.kubectl(
        "apply", "--server-side", "--field-manager=test", "-n", ns, "-f", "-",
        input=json.dumps(obj), check=check,
    )  # fmt: skip


def get(
    cluster: Any, ns: str, name: str, *, kind: str = "CassandraCluster", check: bool = True
) -> Any:
    return cluster.kubectl("get", kind.lower(), name, "-n", ns, "-o", "json", check=check)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_are_accepted_with_defaults(
    local_cluster: Any, namespace: str, path: Path
) -> None:
    doc = yaml.safe_load(path.read_text())
    apply(local_cluster, namespace, doc)
    name, kind = doc["metadata"]["name"], doc["kind"]
    stored = json.loads(get(local_cluster, namespace, name, kind=kind).stdout)
    spec = stored["spec"]
    assert spec["paused"] is False
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"
    for pool in spec["nodePools"]:
        assert pool["persistence"]["size"]
        if kind == "CassandraCluster":
            assert pool["datacenter"]
        else:
            assert "settings" in pool["config"]


def test_minimal_cluster_gets_every_default(local_cluster: Any, namespace: str) -> None:
    apply(
        local_cluster,
        namespace,
        manifest({"version": "5.0.6", "nodePools": [{"name": "r", "replicas": 1}]}),
    )
    spec = json.loads(get(local_cluster, namespace, "c").stdout)["spec"]
    assert spec["nodePools"][0]["datacenter"] == "dc1"
    assert spec["nodePools"][0]["persistence"] == {"size": "10Gi"}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenScaled": "Retain",
        "whenDeleted": "Retain",
    }
    assert spec["config"] == {"cassandraYaml": {}, "jvmOptions": []}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_invalid_is_rejected_and_not_stored(local_cluster: Any, namespace: str, path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    kind = case.get("kind", "CassandraCluster")
    before = None
    if "before" in case:
        apply(local_cluster, namespace, manifest(case["before"]["spec"], kind=kind))
        before = json.loads(get(local_cluster, namespace, "c", kind=kind).stdout)
    obj = manifest(case["object"]["spec"], kind=kind)
    if before is None:  # a plain create reports list errors by index
        proc = local_cluster.kubectl(
            "create", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False
        )
    else:
        proc = apply(local_cluster, namespace, obj, check=False)
    assert proc.returncode != 0, f"{path.name} was accepted"
    for fragment in case["expect"]:
        assert fragment in proc.stderr, proc.stderr
    stored = get(local_cluster, namespace, "c", kind=kind, check=False)
    if before is None:
        assert stored.returncode != 0
        assert "NotFound" in stored.stderr
    else:
        after = json.loads(stored.stdout)
        assert after["spec"] == before["spec"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"version": "5.0.6"}, {"version": "5.0.7"}),
        ({"version": "5.0.6"}, {"version": "6.0.0"}),
        ({"size": "10Gi"}, {"size": "20Gi"}),
        ({"size": "1Gi"}, {"size": "1024Mi"}),
        ({}, {"rack": "r"}),  # an absent rack already means the pool name
    ],
)
def test_allowed_transitions(
    local_cluster: Any, namespace: str, before: dict[str, str], after: dict[str, str]
) -> None:
    def spec(v: dict[str, str]) -> dict[str, Any]:
        pool: dict[str, Any] = {"name": "r", "replicas": 1}
        pool["persistence"] = {"size": v.get("size", "10Gi")}
        if "rack" in v:
            pool["rack"] = v["rack"]
        return {"version": v.get("version", "5.0.6"), "nodePools": [pool]}

    apply(local_cluster, namespace, manifest(spec(before)))
    apply(local_cluster, namespace, manifest(spec(after)))


def test_adding_and_removing_pools_is_allowed(local_cluster: Any, namespace: str) -> None:
    pools = [{"name": "a", "replicas": 1}, {"name": "b", "replicas": 1, "datacenter": "dc2"}]
    apply(
        local_cluster,
        namespace,
        manifest({"version": "5.0.6", "nodePools": pools[:1]}),
    )
    apply(
        local_cluster,
        namespace,
        manifest({"version": "5.0.6", "nodePools": pools}),
    )
    apply(
        local_cluster,
        namespace,
        manifest({"version": "5.0.6", "nodePools": pools[1:]}),
    )
