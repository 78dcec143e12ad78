"""Conditions shaped like `metav1.Condition`, shared by every Navigator kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from navigator.api.common import ApiModel, NodePoolStatus, Operation, RolloutStatus, k8s


class ConditionType(StrEnum):
    """The condition types a database cluster reports."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    PAUSED = "Paused"


class Condition(ApiModel):
    """One aspect of the object's state, in the shape of `metav1.Condition`."""

    type: str = Field(
        description="Condition type, e.g. Available, Progressing, Degraded, Paused.",
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    status: Literal["True", "False", "Unknown"] = Field(
        description="Whether the condition holds: True, False or Unknown."
    )
    observed_generation: int | None = Field(
        None,
        ge=0,
        description="The .metadata.generation the condition was computed from.",
        json_schema_extra=k8s(format="int64"),
    )
    last_transition_time: str = Field(
        description="When the condition last changed status (RFC 3339).",
        json_schema_extra=k8s(format="date-time"),
    )
    reason: str = Field(
        description="One CamelCase word saying why the condition has its status.",
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = Field(
        "", description="Human-readable details about the transition.", max_length=32768
    )


def conditions_field() -> list[Condition]:
    """Default factory for a conditions list."""
    return []


CONDITIONS_EXTRA = k8s(
    **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    maxItems=16,
)


class ClusterStatusBase(ApiModel):
    """Status fields every database cluster has."""

    observed_generation: int | None = Field(
        None,
        description="The .metadata.generation this status describes.",
        json_schema_extra=k8s(format="int64"),
    )
    conditions: list[Condition] = Field(
        default_factory=conditions_field,
        description="Available, Progressing, Degraded and Paused, as metav1.Conditions.",
        json_schema_extra=CONDITIONS_EXTRA,
    )
    phase: str = Field(
        "",
        description="One-word summary for humans (kubectl STATUS column), e.g. Ready,"
        " Progressing, Degraded, Paused. Use conditions in programs.",
        max_length=32,
    )
    ready_members: str = Field(
        "",
        description="Ready members over desired members, e.g. 2/3 (kubectl READY column).",
        max_length=32,
    )
    node_pools: list[NodePoolStatus] = Field(
        default_factory=list,
        description="Observed state of each node pool.",
        json_schema_extra=k8s(
            **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
            maxItems=32,
        ),
    )
    operation: Operation | None = Field(
        None,
        description="The operation in progress; absent when the cluster is settled.",
    )
    rollout: RolloutStatus | None = Field(
        None,
        description="The rollout in progress (members updated, the current member);"
        " absent when every member runs the pool's revision.",
    )
