"""The Pilot kind accepts what the pilot writes and keeps intents immutable."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

PILOT = {
    "apiVersion": "navigator.dev/v1alpha1",
    "kind": "Pilot",
    "metadata": {"name": "c-r-0"},
    "spec": {"cluster": "c", "intents": [{"id": "d1", "action": "Decommission"}]},
}
# The shape `navigator.pilot.core.loop` writes.
STATUS = {
    "facts": {
        "hostID": "6f1c",
        "operationMode": "NORMAL",
        "releaseVersion": "5.0.6",
        "schemaVersion": "abc",
        "clusterName": "c",
        "nativeTransportRunning": True,
        "peers": [
            {
                "address": "10.0.0.2",
                "hostID": "7a2d",
                "up": True,
                "state": "Normal",
                "status": "UN",
                "datacenter": "dc1",
                "rack": "r",
                "load": "1.2 MiB",
            }
        ],
        "keyspaces": [
            {"name": "ks", "strategy": "NetworkTopologyStrategy", "replication": {"dc1": 3}}
        ],
    },
    "ready": True,
    "readyReason": "",
    "databaseRunning": True,
    "intents": [
        {
            "id": "d1",
            "action": "Decommission",
            "phase": "Running",
            "message": "started",
            "attempts": 1,
        }
    ],
    "lastError": None,
}


def test_pilot_status_round_trips(local_cluster: Any, namespace: str) -> None:
    local_cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(PILOT))
    patch = [{"op": "add", "path": "/status", "value": STATUS}]
    local_cluster.kubectl(
        "patch", "pilot", "c-r-0", "-n", namespace, "--subresource=status", "--type=json",
        "-p", json.dumps(patch),
    )  # fmt: skip
    stored = json.loads(
        local_cluster.kubectl("get", "pilot", "c-r-0", "-n", namespace, "-o", "json").stdout
    )
    expected = {k: v for k, v in STATUS.items() if v is not None}
    assert {k: v for k, v in stored["status"].items() if v is not None} == expected


def test_intent_cannot_change_once_written(local_cluster: Any, namespace: str) -> None:
    local_cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(PILOT))
    proc = local_cluster.kubectl(
        "patch", "pilot", "c-r-0", "-n", namespace, "--type=json",
        "-p", json.dumps([{"op": "replace", "path": "/spec/intents/0/id", "value": "d2"}]),
        check=False,
    )  # fmt: skip
    # Changing the id is a new intent (allowed); changing the action of an id is not.
    assert proc.returncode == 0, proc.stderr
    bad = {**PILOT, "spec": {"intents": [{"id": "d2", "action": "Rebuild"}]}}
    proc = local_cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(bad),
        check=False,
    )
    assert proc.returncode != 0
    assert "spec.intents[0].action" in proc.stderr
