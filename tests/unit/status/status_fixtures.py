"""Realistic API objects for the status view tests: a 4-member pool being
scaled in to 3, in the shapes the operator and the pilot write."""

from __future__ import annotations

import copy
from typing import Any

NS = "prod"
HOSTS = [f"5b1c0d2e-0000-4000-8000-00000000000{i}" for i in range(4)]
LOADS = ["1.21 MiB", "1.19 MiB", "1.24 MiB", "1.18 MiB"]


def peer(i: int, status: str = "UN", state: str = "NORMAL") -> dict[str, Any]:
    return {
        "address": f"10.243.0.{10 + i}",
        "hostID": HOSTS[i],
        "up": status.startswith("U"),
        "state": state,
        "status": status,
        "datacenter": "dc1",
        "rack": "rack1",
        "load": LOADS[i],
    }


def ring(leaving: int | None = None) -> list[dict[str, Any]]:
    return [peer(i, "UL", "LEAVING") if i == leaving else peer(i) for i in range(4)]


def pilot(
    i: int,
    *,
    mode: str = "NORMAL",
    intents: list[dict[str, Any]] | None = None,
    outcomes: list[dict[str, Any]] | None = None,
    leaving: int | None = None,
) -> dict[str, Any]:
    name = f"demo-rack1-{i}"
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "Pilot",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"navigator.dev/cluster": "demo", "navigator.dev/pool": "rack1"},
        },
        "spec": {"cluster": "demo", "intents": intents or []},
        "status": {
            "facts": {
                "hostID": HOSTS[i],
                "operationMode": mode,
                "releaseVersion": "5.0.6",
                "schemaVersion": "e84b6a60-1f2c-3b4d-9a8e-0c1d2e3f4a5b",
                "clusterName": "demo",
                "nativeTransportRunning": mode == "NORMAL",
                "peers": ring(leaving),
                "keyspaces": [
                    {
                        "name": "app",
                        "strategy": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                        "replication": {"dc1": 3},
                    }
                ],
            },
            "ready": mode == "NORMAL",
            "readyReason": "" if mode == "NORMAL" else f"operation mode {mode}",
            "databaseRunning": True,
            "intents": outcomes or [],
            "lastError": None,
        },
    }


def member(i: int, state: str = "UN") -> dict[str, Any]:
    return {
        "name": f"demo-rack1-{i}",
        "pool": "rack1",
        "hostID": HOSTS[i],
        "state": state,
        "version": "5.0.6",
        "datacenter": "dc1",
        "rack": "rack1",
    }


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "observedGeneration": 2,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "reason": reason,
        "message": message,
    }


def cluster(operation: dict[str, Any] | None, members: list[dict[str, Any]]) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 2,
        "conditions": [
            condition("Available", "True", "MembersReady", "4 of 4 members ready"),
            condition("Progressing", "True", "ScaleIn", "decommissioning demo-rack1-3"),
            condition("Degraded", "False", "AsExpected"),
            condition("Paused", "False", "NotPaused"),
        ],
        "phase": "Progressing",
        "readyMembers": "4/3",
        "nodePools": [{"name": "rack1", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4}],
        "members": members,
    }
    if operation is not None:
        status["operation"] = operation
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "demo", "namespace": NS, "generation": 2, "uid": "u-1"},
        "spec": {
            "version": "5.0.6",
            "nodePools": [{"name": "rack1", "replicas": 3, "datacenter": "dc1"}],
        },
        "status": status,
    }


INTENT = {"id": "decommission-g2", "action": "Decommission"}
DECOMMISSION_COMPLETES = {
    "rule": "DecommissionCompletes",
    "reason": "waiting for the pilot of demo-rack1-3 to finish its decommission",
}


def scale_in_in_progress() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """demo-rack1-3 is LEAVING; the last status the operator wrote still says UN."""
    op = {
        "type": "ScaleIn",
        "target": "demo-rack1-3",
        "startedAt": "2026-01-01T00:00:00Z",
        "blockedBy": DECOMMISSION_COMPLETES,
    }
    outcome = {
        "id": "decommission-g2",
        "action": "Decommission",
        "phase": "Running",
        "message": "decommission started",
        "attempts": 1,
    }
    pilots = [pilot(i, leaving=3) for i in range(3)]
    pilots.append(pilot(3, mode="LEAVING", intents=[INTENT], outcomes=[outcome], leaving=3))
    return cluster(op, [member(i) for i in range(4)]), pilots


def scale_in_refused() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The pilot refused: removing a node would leave fewer nodes than the RF."""
    message = (
        "DecommissionKeepsReplicationFactor: keyspace app needs 3 nodes in dc1, 2 would remain"
    )
    op = {
        "type": "ScaleIn",
        "target": "demo-rack1-3",
        "startedAt": "2026-01-01T00:00:00Z",
        "blockedBy": {
            "rule": "DecommissionKeepsReplicationFactor",
            "reason": f"the pilot of demo-rack1-3: Refused: {message}",
        },
    }
    outcome = {
        "id": "decommission-g2",
        "action": "Decommission",
        "phase": "Refused",
        "message": message,
        "attempts": 0,
    }
    pilots = [pilot(i) for i in range(3)]
    pilots.append(pilot(3, intents=[INTENT], outcomes=[outcome]))
    return cluster(op, [member(i) for i in range(4)]), pilots


def with_down_member() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """demo-rack1-2's database is down: its own pilot reports no facts, its
    peers see it DN; the operator's status does not know its state."""
    settled = cluster(None, [member(0), member(1), member(2, "Unknown")])
    settled["status"].update(
        phase="Degraded",
        readyMembers="2/3",
        nodePools=[{"name": "rack1", "replicas": 3, "readyReplicas": 2, "updatedReplicas": 3}],
        conditions=[
            condition("Available", "True", "MembersReady", "2 of 3 members ready"),
            condition("Progressing", "False", "Settled"),
            condition("Degraded", "True", "MembersDown", "seen down: demo-rack1-2"),
            condition("Paused", "False", "NotPaused"),
        ],
    )
    pilots = [pilot(i) for i in range(2)]
    for p in pilots:
        p["status"]["facts"]["peers"] = [peer(0), peer(1), peer(2, "DN")]
    down = pilot(2)
    down["status"] = {
        "ready": False,
        "databaseRunning": False,
        "lastError": "cassandra exited 137",
    }
    return settled, [*pilots, down]


def copy_of(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)


OLD_REVISION, NEW_REVISION = "a1b2c3d4e5f60718", "7c9e2f4a1b3d5e6f"
SERVES = {
    "rule": "RestartedMemberServes",
    "reason": f"demo-rack1-1 runs revision {NEW_REVISION} and does not serve yet:"
    " operation mode STARTING",
}
STALLED = {
    "rule": "RolloutStalled",
    "reason": "demo-rack1-1 did not come back on the new revision (not serving 12 min after"
    " it started: operation mode STARTING); nothing else restarts until it does, or until"
    " the spec returns to the revision the other members run",
}


def rolling_upgrade(*, stalled: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An upgrade from 5.0.5 to 5.0.6, highest ordinal first: demo-rack1-2 is
    done, demo-rack1-1 restarted and is not serving yet (or, `stalled`, has
    not come back for too long), demo-rack1-0 still runs the old revision."""
    revisions = [OLD_REVISION, NEW_REVISION, NEW_REVISION]
    members = [member(i, "DN" if i == 1 else "UN") for i in range(3)]
    for i, m in enumerate(members):
        m.update(revision=revisions[i], updated=revisions[i] == NEW_REVISION)
    members[0]["version"] = "5.0.5"
    op = {
        "type": "Upgrade",
        "target": "demo-rack1-1",
        "startedAt": "2026-01-01T00:00:00Z",
        "blockedBy": STALLED if stalled else SERVES,
    }
    obj = cluster(op, members)
    obj["status"].update(
        phase="Degraded" if stalled else "Progressing",
        readyMembers="2/3",
        nodePools=[
            {
                "name": "rack1",
                "replicas": 3,
                "readyReplicas": 2,
                "updatedReplicas": 2,
                "revision": NEW_REVISION,
            }
        ],
        conditions=[
            condition("Available", "True", "MembersReady", "2 of 3 members ready"),
            condition("Progressing", "True", "Upgrade", f"blocked by {op['blockedBy']['rule']}"),
            condition("Degraded", "True", "RolloutStalled", STALLED["reason"])
            if stalled
            else condition("Degraded", "False", "AsExpected"),
            condition("Paused", "False", "NotPaused"),
        ],
        rollout={
            "type": "Upgrade",
            "updatedMembers": 1,
            "members": 3,
            "currentMember": "demo-rack1-1",
            "stalled": stalled,
        },
    )
    pilots = [pilot(i) for i in range(3)]
    for p in (pilots[0], pilots[2]):
        p["status"]["facts"]["peers"] = [peer(0), peer(1, "DN"), peer(2)]
    pilots[0]["status"]["facts"]["releaseVersion"] = "5.0.5"
    pilots[1] = pilot(1, mode="STARTING")
    pilots[1]["status"]["facts"]["peers"] = []
    for p, revision in zip(pilots, revisions, strict=True):
        p["status"]["revision"] = revision
    return obj, pilots
