"""Pure builders of the parts every engine's objects share: owner
references, the headless Service of the members, the PodDisruptionBudget,
the pod's security and scheduling, the data volume's claim and the
StatefulSet of a pool. Plain manifests from plain values (no client, no
database); an engine's builders (`navigator.operator.cassandra.builders`)
fill in its names, ports, image and configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from navigator.api.common import ClusterSpecBase, NodePoolBase
from navigator.operator.core.objects import CLUSTER_LABEL, Manifest


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    """The controller reference that makes the API server collect the object
    when the cluster is deleted."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def headless_service(
    metadata: dict[str, Any], selector: dict[str, str], ports: Mapping[str, int]
) -> Manifest:
    """A headless Service that publishes members before they are ready: a
    joining node must resolve its peers while it is not ready yet."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector,
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports.items()],
        },
    }


def pod_disruption_budget(metadata: dict[str, Any], selector: dict[str, str]) -> Manifest:
    """At most one member down by voluntary disruption (drains, evictions)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }


def pod_security_context(uid: int, gid: int) -> dict[str, Any]:
    """Non-root, with the data volume's group and the runtime's seccomp profile
    (Pod Security Standards: `restricted`)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        # The volume's ownership is walked only when its root is not right yet
        # (the first start, or a volume written by a root pod before).
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """No capabilities at all, and no way to gain privileges (setuid binaries)."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def http_probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    """A probe of the pilot's HTTP endpoint `path`."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def spread_members(cluster_name: str) -> dict[str, Any]:
    """The default affinity: prefer one member of the cluster (any pool) per
    node, so that losing a node costs one replica, not a quorum. Preferred,
    not required: a cluster with more members than nodes still schedules."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {CLUSTER_LABEL: cluster_name}},
                    },
                }
            ]
        }
    }


def scheduling(pool: NodePoolBase, cluster_name: str) -> dict[str, Any]:
    """The pool's placement as the user set it (the pod spec's fields that
    are set), members spread over nodes unless it names an affinity."""
    passthrough = {
        "nodeSelector": pool.node_selector,
        "tolerations": pool.tolerations,
        "affinity": pool.affinity if pool.affinity is not None else spread_members(cluster_name),
        "topologySpreadConstraints": pool.topology_spread_constraints,
    }
    return {k: v for k, v in passthrough.items() if v}


def volume_claim_template(name: str, labels: dict[str, str], pool: NodePoolBase) -> dict[str, Any]:
    """The claim of a member's data volume, as the pool's persistence says."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": pool.persistence.size}},
    }
    if pool.persistence.storage_class_name:
        spec["storageClassName"] = pool.persistence.storage_class_name
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def statefulset(
    metadata: dict[str, Any],
    spec: ClusterSpecBase,
    *,
    replicas: int,
    service: str,
    selector: dict[str, str],
    template: dict[str, Any],
    claim: dict[str, Any],
) -> Manifest:
    """A pool's StatefulSet: its pods started in parallel, restarted only when
    the operator deletes one (`OnDelete`: the rollout engine decides), its
    claims kept or deleted as the spec's retention policy says."""
    retention = spec.persistent_volume_claim_retention_policy
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "serviceName": service,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "OnDelete"},
            "persistentVolumeClaimRetentionPolicy": {
                "whenScaled": retention.when_scaled,
                "whenDeleted": retention.when_deleted,
            },
            "template": template,
            "volumeClaimTemplates": [claim],
        },
    }
