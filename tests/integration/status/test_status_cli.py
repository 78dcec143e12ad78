"""`navigator status` against the real API server: a scale-in in progress
(status written through the status subresource, as the operator and the
pilot do), shown by the real command as a table and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

HOSTS = [f"0a7e5c1d-0000-4000-8000-00000000000{i}" for i in range(4)]
INTENT_ID = "decommission-g2"
BLOCKED = {
    "rule": "DecommissionCompletes",
    "reason": "waiting for the pilot of demo-rack1-3 to finish its decommission",
}


def peer(i: int) -> dict[str, Any]:
    leaving = i == 3
    return {
        "address": f"10.236.0.{10 + i}",
        "hostID": HOSTS[i],
        "up": True,
        "state": "LEAVING" if leaving else "NORMAL",
        "status": "UL" if leaving else "UN",
        "datacenter": "dc1",
        "rack": "rack1",
        "load": f"1.{20 + i} MiB",
    }


def cluster_object() -> dict[str, Any]:
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "demo"},
        "spec": {
            "version": "5.0.6",
            "nodePools": [{"name": "rack1", "replicas": 3, "datacenter": "dc1"}],
        },
    }


def cluster_status() -> dict[str, Any]:
    def cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "reason": reason,
            "message": message,
        }

    members = [
        {
            "name": f"demo-rack1-{i}",
            "pool": "rack1",
            "hostID": HOSTS[i],
            "state": "UN",  # written before demo-rack1-3 started to leave
            "version": "5.0.6",
            "datacenter": "dc1",
            "rack": "rack1",
        }
        for i in range(4)
    ]
    return {
        "observedGeneration": 1,
        "conditions": [
            cond("Available", "True", "MembersReady", "4 of 4 members ready"),
            cond("Progressing", "True", "ScaleIn", f"blocked by {BLOCKED['rule']}"),
            cond("Degraded", "False", "AsExpected"),
            cond("Paused", "False", "NotPaused"),
        ],
        "phase": "Progressing",
        "readyMembers": "4/3",
        "nodePools": [{"name": "rack1", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4}],
        "members": members,
        "operation": {
            "type": "ScaleIn",
            "target": "demo-rack1-3",
            "startedAt": "2026-01-01T00:00:00Z",
            "blockedBy": BLOCKED,
        },
    }


def pilot_object(i: int) -> dict[str, Any]:
    intents = [{"id": INTENT_ID, "action": "Decommission"}] if i == 3 else []
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "Pilot",
        "metadata": {
            "name": f"demo-rack1-{i}",
            "labels": {"navigator.dev/cluster": "demo", "navigator.dev/pool": "rack1"},
        },
        "spec": {"cluster": "demo", "intents": intents},
    }


def pilot_status(i: int) -> dict[str, Any]:
    mode = "LEAVING" if i == 3 else "NORMAL"
    outcomes = [
        {
            "id": INTENT_ID,
            "action": "Decommission",
            "phase": "Running",
            "message": "decommission started",
            "attempts": 1,
        }
    ]
    return {
        "facts": {
            "hostID": HOSTS[i],
            "operationMode": mode,
            "releaseVersion": "5.0.6",
            "schemaVersion": "e84b6a60-1f2c-3b4d-9a8e-0c1d2e3f4a5b",
            "clusterName": "demo",
            "nativeTransportRunning": mode == "NORMAL",
            "peers": [peer(k) for k in range(4)],
            "keyspaces": [],
        },
        "ready": mode == "NORMAL",
        "readyReason": "",
        "databaseRunning": True,
        "intents": outcomes if i == 3 else [],
    }


def put_status(local_cluster: Any, namespace: str, kind: str, name: str, status: Any) -> None:
    local_cluster.kubectl(
        "patch", kind, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


@pytest.fixture
def scale_in(local_cluster: Any, namespace: str) -> str:
    """demo scaled in from 4 to 3 members; demo-rack1-3 is leaving the ring."""
    create = ("create", "-n", namespace, "-f", "-")
    local_cluster.kubectl(*create, input=json.dumps(cluster_object()))
    put_status(local_cluster, namespace, "cassandracluster", "demo", cluster_status())
    for i in range(4):
        local_cluster.kubectl(*create, input=json.dumps(pilot_object(i)))
        put_status(local_cluster, namespace, "pilot", f"demo-rack1-{i}", pilot_status(i))
    return namespace


def navigator_status(local_cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig)}
    env.pop("COLUMNS", None)
    return subprocess.run(
        [sys.executable, "-m", "navigator.cli", "status", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_table_shows_the_leaving_member_and_the_blocking_rule(
    local_cluster: Any, scale_in: str
) -> None:
    proc = navigator_status(local_cluster, "demo", "-n", scale_in)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == [
        *("CassandraCluster", f"{scale_in}/demo", "Cassandra", "5.0.6", "Progressing"),
    ]
    assert lines[1].startswith("Operation  ScaleIn demo-rack1-3, started 2026-01-01T00:00:00Z")
    assert lines[2] == f"Waiting on {BLOCKED['rule']}: {BLOCKED['reason']}"
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(" demo-rack1-")}
    assert sorted(rows) == [f"demo-rack1-{i}" for i in range(4)]
    assert rows["demo-rack1-3"][:12] == [
        *("demo-rack1-3", "rack1", "dc1", "rack1", "UL", "LEAVING", "1.23", "MiB", "no"),
        *("-", "-", HOSTS[3]),  # no revision: this status predates rollouts
    ]
    assert " ".join(rows["demo-rack1-3"][12:]) == (
        f"decommissioning (intent {INTENT_ID} Running, attempt 1)"
    )
    assert rows["demo-rack1-0"][4:12] == ["UN", "NORMAL", "1.20", "MiB", "yes", "-", "-", HOSTS[0]]


def test_json_for_machines(local_cluster: Any, scale_in: str) -> None:
    proc = navigator_status(local_cluster, "demo", "-n", scale_in, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert (body["name"], body["namespace"], body["phase"]) == ("demo", scale_in, "Progressing")
    assert body["operation"]["type"] == "ScaleIn"
    assert body["operation"]["target"] == "demo-rack1-3"
    assert body["operation"]["blockedBy"] == BLOCKED
    assert body["pools"][0]["desiredReplicas"] == 3
    assert body["pools"][0]["replicas"] == 4
    members = {m["name"]: m for m in body["members"]}
    leaving = members["demo-rack1-3"]
    assert (leaving["state"], leaving["operationMode"], leaving["leaving"]) == (
        "UL",
        "LEAVING",
        True,
    )
    assert leaving["decommission"] == {
        "intent": INTENT_ID,
        "phase": "Running",
        "message": "decommission started",
        "attempts": 1,
    }
    assert (leaving["hostID"], leaving["load"]) == (HOSTS[3], "1.23 MiB")
    assert [members[f"demo-rack1-{i}"]["state"] for i in range(3)] == ["UN"] * 3


def test_summary_of_the_namespace_and_of_all(local_cluster: Any, scale_in: str) -> None:
    proc = navigator_status(local_cluster, "-n", scale_in)
    assert proc.returncode == 0, proc.stderr
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith(" demo"))
    assert row[:8] == ["demo", "5.0.6", "Progressing", "4/3", "3", "UN,", "1", "UL"]
    assert "DecommissionCompletes:" in row
    everywhere = navigator_status(local_cluster, "-A", "-o", "json")
    assert everywhere.returncode == 0, everywhere.stderr
    found = [c for c in json.loads(everywhere.stdout)["items"] if c["namespace"] == scale_in]
    assert [c["name"] for c in found] == ["demo"]


def test_a_missing_cluster_exits_1(local_cluster: Any, scale_in: str) -> None:
    proc = navigator_status(local_cluster, "nope", "-n", scale_in)
    assert proc.returncode == 1
    assert f"CassandraCluster {scale_in}/nope not found" in proc.stderr


OLD, NEW = "a1b2c3d4e5f60718", "7c9e2f4a1b3d5e6f"
STALLED = {
    "rule": "RolloutStalled",
    "reason": "demo-rack1-1 did not come back on the new revision (ImagePullBackOff)",
}


def rollout_status() -> dict[str, Any]:
    """An upgrade halted at its second member, as the operator writes it."""
    status = cluster_status()
    revisions = [OLD, NEW, NEW]
    members = status["members"][:3]
    for i, m in enumerate(members):
        m.update(revision=revisions[i], updated=revisions[i] == NEW)
    members[1]["state"] = "DN"
    status.update(
        phase="Degraded",
        readyMembers="2/3",
        members=members,
        nodePools=[
            {
                "name": "rack1",
                "replicas": 3,
                "readyReplicas": 2,
                "updatedReplicas": 2,
                "revision": NEW,
            }
        ],
        operation={
            "type": "Upgrade",
            "target": "demo-rack1-1",
            "startedAt": "2026-01-01T00:00:00Z",
            "blockedBy": STALLED,
        },
        rollout={
            "type": "Upgrade",
            "updatedMembers": 1,
            "members": 3,
            "currentMember": "demo-rack1-1",
            "stalled": True,
        },
    )
    return status


@pytest.fixture
def stalled_upgrade(local_cluster: Any, namespace: str) -> str:
    local_cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(cluster_object()))
    put_status(local_cluster, namespace, "cassandracluster", "demo", rollout_status())
    return namespace


def test_a_stalled_rollout(local_cluster: Any, stalled_upgrade: str) -> None:
    proc = navigator_status(local_cluster, "demo", "-n", stalled_upgrade)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2] == "Rollout    Upgrade  1/3 members updated  current demo-rack1-1  STALLED"
    assert lines[3] == f"Waiting on {STALLED['rule']}: {STALLED['reason']}"
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(" demo-rack1-")}
    # no Pilots: MODE, LOAD and READY are `-`, one cell each
    assert [rows[f"demo-rack1-{i}"][8:10] for i in range(3)] == [
        [OLD[:7], "no"],
        [NEW[:7], "yes"],
        [NEW[:7], "yes"],
    ]
    assert rows["demo-rack1-1"][-2:] == ["restart", "stalled"]
    body = json.loads(
        navigator_status(local_cluster, "demo", "-n", stalled_upgrade, "-o", "json").stdout
    )
    assert body["rollout"] == {
        "type": "Upgrade",
        "updatedMembers": 1,
        "members": 3,
        "currentMember": "demo-rack1-1",
        "stalled": True,
    }
    assert [(m["revision"], m["updated"]) for m in body["members"]] == [
        (OLD, False),
        (NEW, True),
        (NEW, True),
    ]
    assert body["pools"][0]["revision"] == NEW
