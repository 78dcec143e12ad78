"""Status subresource rights, printer columns and `kubectl explain`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crds")]

CLUSTER = {
    "apiVersion": "navigator.dev/v1alpha1",
    "kind": "CassandraCluster",
    "metadata": {"name": "c"},
    "spec": {"version": "5.0.6", "pilotImage": "p", "nodePools": [{"name": "r", "replicas": 3}]},
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
