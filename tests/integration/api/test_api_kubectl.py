"""Status subresource rights, printer columns and `kubectl explain` (every kind)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

CLUSTER = {
    "apiVersion": "navigator.dev/v1alpha1",
    "kind": "CassandraCluster",
    "metadata": {"name": "c"},
    "spec": {"version": "5.0.6", "nodePools": [{"name": "r", "replicas": 3}]},
}
STATUS = {"status": {"phase": "Ready", "readyMembers": "3/3", "observedGeneration": 1}}


def _create(cluster: Any, ns: str) -> None:
    cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(CLUSTER))


def _write_status(cluster: Any, ns: str, *extra: str, check: bool = True) -> Any:
    return cluster.kubectl(
        *extra, "patch", "cass", "c", "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps(STATUS), check=check,
    )  # fmt: skip


def _editor(cluster: Any, ns: str) -> str:
    """A service account that may edit CassandraClusters but not their status."""
    cluster.kubectl("create", "serviceaccount", "editor", "-n", ns)
    cluster.kubectl(
        "create", "role", "cass-editor", "-n", ns,
        "--verb=get,list,watch,create,update,patch",
        "--resource=cassandraclusters.navigator.dev",
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "cass-editor", "-n", ns, "--role=cass-editor",
        f"--serviceaccount={ns}:editor",
    )  # fmt: skip
    return f"--as=system:serviceaccount:{ns}:editor"


def test_status_needs_rights_on_the_subresource(local_cluster: Any, namespace: str) -> None:
    _create(local_cluster, namespace)
    as_editor = _editor(local_cluster, namespace)
    denied = _write_status(local_cluster, namespace, as_editor, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    # Through the main resource the status is ignored, not written.
    local_cluster.kubectl(
        as_editor, "patch", "cass", "c", "-n", namespace, "--type=merge",
        "-p", json.dumps({**STATUS, "spec": {"paused": True}}),
    )  # fmt: skip
    stored = json.loads(
        local_cluster.kubectl("get", "cass", "c", "-n", namespace, "-o", "json").stdout
    )
    assert stored["spec"]["paused"] is True
    assert "phase" not in stored.get("status", {})


def test_get_shows_the_columns(local_cluster: Any, namespace: str) -> None:
    _create(local_cluster, namespace)
    _write_status(local_cluster, namespace)
    out = local_cluster.kubectl("get", "cass", "-n", namespace).stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "VERSION", "STATUS", "AGE"]
    assert row.split()[:4] == ["c", "3/3", "5.0.6", "Ready"]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("cassandracluster.spec", "The cluster the user wants"),
        ("cassandracluster.spec.version", "Apache Cassandra version"),
        ("cassandracluster.spec.nodePools.rack", "the operator uses"),
        ("cassandracluster.spec.nodePools.persistence.size", "never shrink"),
        ("cassandracluster.spec.config.cassandraYaml", "Keys Navigator owns"),
        ("cassandracluster.status.operation.blockedBy.rule", "safety rule"),
        ("opensearchcluster.spec.version", "OpenSearch version"),
        ("opensearchcluster.spec.nodePools.roles", "coordinating-only"),
        ("opensearchcluster.spec.nodePools.config.settings", "opensearch.yml"),
        ("opensearchcluster.status.health", "green"),
        ("elasticsearchcluster.spec.nodePools.roles", "master"),
        ("elasticsearchcluster.spec.nodePools.config.settings", "elasticsearch.yml"),
        ("elasticsearchcluster.spec.nodePools", "odd number"),
        ("pilot.spec.intents.id", "Identity of the intent"),
        ("pilot.status.facts.hostID", "host ID"),
    ],
)
def test_explain_shows_descriptions(local_cluster: Any, path: str, fragment: str) -> None:
    deadline = time.monotonic() + 30  # the OpenAPI document follows the CRD shortly
    while True:
        proc = local_cluster.kubectl("explain", path, check=False)
        if (proc.returncode == 0 and fragment in proc.stdout) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert fragment in proc.stdout, proc.stdout + proc.stderr


FULL_STATUS = {
    "observedGeneration": 1,
    "phase": "Progressing",
    "readyMembers": "2/3",
    "conditions": [
        {
            "type": "Progressing",
            "status": "True",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "reason": "ScalingIn",
            "message": "decommissioning c-r-2",
        }
    ],
    "nodePools": [
        {
            "name": "r",
            "replicas": 3,
            "readyReplicas": 2,
            "updatedReplicas": 3,
            "revision": "7d4f9c2b1a",
        }
    ],
    "members": [
        {
            "name": "c-r-0",
            "pool": "r",
            "hostID": "6f1c0e0a-0000-0000-0000-000000000000",
            "state": "UN",
            "version": "5.0.6",
            "datacenter": "dc1",
            "rack": "r",
            "revision": "7d4f9c2b1a",
            "updated": True,
        }
    ],
    "operation": {
        "type": "ScaleIn",
        "target": "c-r-2",
        "startedAt": "2026-01-01T00:00:00Z",
        "blockedBy": {"rule": "ReplicationAllowsDecommission", "reason": "RF 3 needs 3 nodes"},
    },
}


def test_status_schema_keeps_what_the_operator_writes(local_cluster: Any, namespace: str) -> None:
    _create(local_cluster, namespace)
    local_cluster.kubectl(
        "patch", "cass", "c", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": FULL_STATUS}),
    )  # fmt: skip
    stored = json.loads(
        local_cluster.kubectl("get", "cass", "c", "-n", namespace, "-o", "json").stdout
    )
    assert stored["status"] == FULL_STATUS


def test_status_rejects_unknown_member_state(local_cluster: Any, namespace: str) -> None:
    _create(local_cluster, namespace)
    bad = {"status": {"members": [{"name": "c-r-0", "state": "XX"}]}}
    proc = local_cluster.kubectl(
        "patch", "cass", "c", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps(bad), check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "status.members[0].state" in proc.stderr
