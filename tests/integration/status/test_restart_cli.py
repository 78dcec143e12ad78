"""`navigator restart` against the real API server: it sets (and overwrites)
`navigator.dev/restartedAt` and nothing else, as the documented kubectl
command does; a missing cluster exits 1. No operator runs here: what the
operator does with the annotation is tested with the operator."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

ANNOTATION = "navigator.dev/restartedAt"
RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def demo(local_cluster: Any, namespace: str) -> str:
    """A CassandraCluster that was already restarted once, with another annotation."""
    cluster = {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {
            "name": "demo",
            "annotations": {ANNOTATION: "2025-01-01T00:00:00Z", "team": "storage"},
        },
        "spec": {"version": "5.0.6", "nodePools": [{"name": "rack1", "replicas": 3}]},
    }
    local_cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(cluster))
    return namespace


def navigator(local_cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "navigator.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def stored(local_cluster: Any, namespace: str) -> dict[str, Any]:
    got = local_cluster.kubectl(
        "get", "cass", "demo", "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    return json.loads(got.stdout)  # type: ignore[no-any-return]


def requested_at(obj: dict[str, Any]) -> datetime:
    value = obj["metadata"]["annotations"][ANNOTATION]
    assert RFC3339_SECONDS.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_restart_sets_the_annotation_to_now(local_cluster: Any, demo: str) -> None:
    before = stored(local_cluster, demo)
    proc = navigator(local_cluster, "restart", "demo", "-n", demo)
    assert proc.returncode == 0, proc.stderr
    after = stored(local_cluster, demo)
    when = requested_at(after)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)
    assert f"{ANNOTATION}={when:%Y-%m-%dT%H:%M:%SZ}" in proc.stdout
    assert proc.stdout.splitlines()[-1] == f"Follow it with: navigator status demo -n {demo} -w"
    assert after["metadata"]["annotations"]["team"] == "storage"
    assert after["spec"] == before["spec"]
    managers = {f["manager"] for f in after["metadata"]["managedFields"]}
    assert "navigator-restart" in managers


def test_the_documented_kubectl_command_writes_the_same_form(local_cluster: Any, demo: str) -> None:
    kubectl = shlex.join([str(local_cluster.binaries.kubectl), "-n", demo])
    line = f'{kubectl} annotate cass demo {ANNOTATION}="$(date -u +%FT%TZ)" --overwrite'
    subprocess.run(
        ["bash", "-c", line],
        env={**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert abs(datetime.now(UTC) - requested_at(stored(local_cluster, demo))) < timedelta(minutes=1)


def test_a_missing_cluster_exits_1(local_cluster: Any, namespace: str) -> None:
    proc = navigator(local_cluster, "restart", "nope", "-n", namespace)
    assert proc.returncode == 1, proc.stdout
    assert f"CassandraCluster {namespace}/nope not found" in proc.stderr
