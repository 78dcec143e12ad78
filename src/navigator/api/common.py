"""Parts shared by every database kind: node pools, persistence, images, pause,
retention of data, and the status of pools and operations.

An `ElasticsearchCluster` reuses these by subclassing `NodePoolBase`,
`ClusterSpecBase` and `conditions.ClusterStatusBase`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "navigator.dev"
VERSION = "v1alpha1"

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
IMAGE_MAX = 512


def k8s(**schema: Any) -> dict[str, Any]:
    """Extra OpenAPI keywords for one field (CEL rules, list types, formats...).

    `crdgen` merges them into the field's generated schema verbatim.
    """
    return schema


def rule(expr: str, message: str, **extra: Any) -> dict[str, Any]:
    """One CEL `x-kubernetes-validations` entry; the message names field and rule."""
    return {"rule": expr, "message": message, **extra}


DNS1123_RULE = rule(
    f"self.matches('{DNS1123_LABEL}')",
    "name must be a DNS-1123 label: lowercase letters, digits and '-',"
    " starting and ending with a letter or digit",
)


def printer_columns(database: str, *extra: dict[str, str]) -> list[dict[str, str]]:
    """`kubectl get`'s columns for a database cluster: READY, VERSION, the
    database's own columns (`extra`), STATUS, AGE."""
    return [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": ".status.readyMembers",
            "description": "Ready members / desired members",
        },
        {
            "name": "Version",
            "type": "string",
            "jsonPath": ".spec.version",
            "description": f"{database} version",
        },
        *extra,
        {
            "name": "Status",
            "type": "string",
            "jsonPath": ".status.phase",
            "description": "Summary of the conditions",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


class ApiModel(BaseModel):
    """Base of every API type: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


RetentionAction = Literal["Retain", "Delete"]


class RetentionPolicy(ApiModel):
    """What happens to members' volumes (PVCs), like a StatefulSet's
    persistentVolumeClaimRetentionPolicy. Keeping data is the default."""

    when_scaled: RetentionAction = Field(
        "Retain",
        description="Retain or Delete the volume of a member removed by scaling a pool in.",
    )
    when_deleted: RetentionAction = Field(
        "Retain",
        description="Retain or Delete the members' volumes when the cluster is deleted.",
    )


class Persistence(ApiModel):
    """The persistent volume every member of a pool gets."""

    model_config = ConfigDict(
        json_schema_extra=k8s(
            **{
                "x-kubernetes-validations": [
                    rule(
                        "has(self.storageClassName) == has(oldSelf.storageClassName)"
                        " && (!has(self.storageClassName)"
                        " || self.storageClassName == oldSelf.storageClassName)",
                        "storageClassName is immutable: it cannot be set, changed or removed"
                        " after creation",
                        fieldPath=".storageClassName",
                    )
                ]
            }
        )
    )

    size: str = Field(
        "10Gi",
        description="Volume size as a Kubernetes quantity (e.g. 50Gi). It may grow"
        " (when the storage class allows expansion) but never shrink.",
        max_length=32,
        pattern=QUANTITY,
        json_schema_extra=k8s(
            **{
                "x-kubernetes-validations": [
                    rule(
                        "quantity(self).compareTo(quantity(oldSelf)) >= 0",
                        "size may grow but never shrink",
                    )
                ]
            }
        ),
    )
    storage_class_name: str | None = Field(
        None,
        description="StorageClass of the volumes; the cluster default when absent. Immutable.",
        max_length=253,
    )


class NodePoolBase(ApiModel):
    """A set of identical members: one StatefulSet."""

    name: str = Field(
        description="Name of the pool: a DNS-1123 label, unique within the cluster.",
        min_length=1,
        max_length=40,
        pattern=DNS1123_LABEL,
        json_schema_extra=k8s(**{"x-kubernetes-validations": [DNS1123_RULE]}),
    )
    replicas: int = Field(
        description="Number of members in the pool (0 or more).",
        ge=0,
        le=1000,
        json_schema_extra=k8s(format="int32"),
    )
    persistence: Persistence = Field(
        default_factory=Persistence,
        description="The persistent volume of each member.",
    )
    resources: dict[str, Any] | None = Field(
        None,
        description="Compute resources of the database container (a core/v1"
        " ResourceRequirements: requests, limits).",
    )
    node_selector: dict[str, str] | None = Field(
        None,
        description="Labels a node must carry to run this pool's members.",
        json_schema_extra=k8s(maxProperties=64),
    )
    tolerations: list[dict[str, Any]] | None = Field(
        None,
        description="Tolerations of the pool's pods (core/v1 Toleration objects).",
        max_length=64,
    )
    affinity: dict[str, Any] | None = Field(
        None,
        description="Affinity of the pool's pods (a core/v1 Affinity). Default: prefer"
        " one member of the cluster per node (pod anti-affinity on"
        " kubernetes.io/hostname); `{}` turns that off.",
    )
    topology_spread_constraints: list[dict[str, Any]] | None = Field(
        None,
        description="How the pool's pods spread over topology domains (core/v1"
        " TopologySpreadConstraint objects).",
        max_length=16,
    )


class ClusterSpecBase(ApiModel):
    """Spec fields every database cluster has."""

    image: str | None = Field(
        None,
        description="Database image override. By default `navigator-cassandra:<version>`, the"
        " official image of `version` with the pilot (Navigator's in-pod agent) baked in.",
        min_length=1,
        max_length=IMAGE_MAX,
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Pull policy of the database image."
    )
    paused: bool = Field(
        False,
        description="When true the operator changes nothing (it still reports status).",
    )
    persistent_volume_claim_retention_policy: RetentionPolicy = Field(
        default_factory=RetentionPolicy,
        description="Whether members' volumes are kept or deleted on scale-in and on"
        " deletion (default: kept).",
    )


class NodePoolStatus(ApiModel):
    """Observed state of one node pool (its StatefulSet)."""

    name: str = Field(description="Name of the pool.", max_length=40)
    replicas: int = Field(0, description="Members that exist.", ge=0)
    ready_replicas: int = Field(0, description="Members that are ready.", ge=0)
    updated_replicas: int = Field(0, description="Members running the current pod template.", ge=0)
    revision: str = Field(
        "",
        description="The revision every member of the pool should run: a hash of"
        " everything in its pod template (version, configuration, resources, restart"
        " requests).",
        max_length=64,
    )


class BlockedBy(ApiModel):
    """The safety rule that stops an operation from progressing."""

    rule: str = Field(description="Name of the safety rule (a predicate).", max_length=128)
    reason: str = Field(description="Why the rule blocks, in plain words.", max_length=4096)


class Operation(ApiModel):
    """The operation in progress."""

    type: str = Field(
        description="Kind of operation, e.g. ScaleOut, ScaleIn, Upgrade, Restart.",
        max_length=64,
    )
    target: str = Field(
        "", description="What it acts on, e.g. a pool, a member or a version.", max_length=256
    )
    started_at: str | None = Field(
        None,
        description="When the operation began (RFC 3339).",
        json_schema_extra=k8s(format="date-time"),
    )
    blocked_by: BlockedBy | None = Field(
        None, description="Set while a safety rule blocks the operation."
    )


class RolloutStatus(ApiModel):
    """A rollout in progress: members restarted one at a time onto a new revision."""

    type: str = Field(
        description="RollingRestart, Upgrade or ConfigRollout (what changed in the"
        " revision; an upgrade wins over a config change, which wins over a restart).",
        max_length=64,
    )
    updated_members: int = Field(
        0, description="Members that run the new revision and serve again.", ge=0
    )
    members: int = Field(0, description="Members the rollout covers.", ge=0)
    current_member: str = Field(
        "", description="The member being restarted, or the next one to go.", max_length=253
    )
    stalled: bool = Field(
        False,
        description="A restarted member did not come back: nothing else restarts"
        " until it does or the spec goes back to the revision the others run.",
    )
