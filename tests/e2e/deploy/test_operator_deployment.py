"""deploy/operator as shipped: the operator runs as a Deployment in the local
cluster (image navigator:<version>, non-root, its ServiceAccount's token,
in-cluster API discovery) and reconciles a CassandraCluster.

No Cassandra is started: a cluster with zero members is enough to prove that
the in-cluster operator logs in, is elected, watches and writes. The
Deployment is removed afterwards so that later suites' operators act alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from navigator.cassandra.pilot_image import build_operator_image
from navigator.local import cluster
from navigator.local.agent.fleet import NodeSet
from navigator.testing.members import eventually
from navigator.testing.pytest_plugin import LocalCluster, install_crds

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "operator"
SYSTEM = "navigator-system"


@pytest.fixture
def deployed(local_cluster: LocalCluster) -> Iterator[LocalCluster]:
    build_operator_image()
    nodes = NodeSet(count=3)
    cluster.ensure_nodes(local_cluster.config, nodes, bins=local_cluster.binaries, say=print)
    install_crds(local_cluster)
    local_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(DEPLOY))
    try:
        yield local_cluster
    finally:
        for pod in json.loads(
            local_cluster.kubectl("-n", SYSTEM, "get", "pods", "-o", "json", check=False).stdout
            or '{"items": []}'
        )["items"]:
            name = pod["metadata"]["name"]
            logs = local_cluster.kubectl("-n", SYSTEM, "logs", name, "--tail=30", check=False)
            print(f"--- {name}\n{logs.stdout}{logs.stderr}")
        local_cluster.kubectl("delete", "-k", str(DEPLOY), "--wait=true", check=False, timeout=180)
        cluster.remove_nodes(local_cluster.config, bins=local_cluster.binaries, say=print)


def test_the_operator_deployment_reconciles(deployed: LocalCluster, namespace: str) -> None:
    kube = deployed
    kube.kubectl(
        "-n",
        SYSTEM,
        "rollout",
        "status",
        "deployment/navigator-operator",
        "--timeout=240s",
        timeout=260,
    )
    pods = json.loads(kube.kubectl("-n", SYSTEM, "get", "pods", "-o", "json").stdout)["items"]
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"].startswith("navigator:")
        assert pod["spec"]["securityContext"]["runAsUser"] == 65532
    manifest = {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "empty", "namespace": namespace},
        "spec": {"version": "5.0.6", "nodePools": [{"name": "rack1", "replicas": 0}]},
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def reconciled() -> bool:
        got = kube.kubectl("-n", namespace, "get", "cassandracluster", "empty", "-o", "json")
        obj = json.loads(got.stdout)
        status = obj.get("status") or {}
        return status.get("observedGeneration") == obj["metadata"]["generation"]

    eventually(reconciled, timeout=120, interval=1, what="the in-cluster operator's status")
    sts = json.loads(
        kube.kubectl(
            "-n",
            namespace,
            "get",
            "statefulset",
            "empty-rack1",
            "-o",
            "json",
            "--show-managed-fields",
        ).stdout
    )
    assert sts["spec"]["replicas"] == 0
    managers = {m["manager"] for m in sts["metadata"]["managedFields"]}
    assert "navigator-operator" in managers
    # Auth is on by default: the in-cluster operator (its RBAC) made the Secret.
    secret = json.loads(
        kube.kubectl("-n", namespace, "get", "secret", "empty-superuser", "-o", "json").stdout
    )
    assert secret["type"] == "kubernetes.io/basic-auth"
    lease = json.loads(
        kube.kubectl("-n", SYSTEM, "get", "lease", "navigator-operator", "-o", "json").stdout
    )
    assert lease["spec"]["holderIdentity"] in {p["metadata"]["name"] for p in pods}
