"""The Pilot kind: the operator's intents for one member, and the facts its
pilot reports back. One Pilot per database pod, named after the pod."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from navigator.api.common import ApiModel, k8s, rule

KIND, PLURAL = "Pilot", "pilots"

Action = Literal["Decommission", "Replace"]
Phase = Literal["Running", "Succeeded", "Failed", "Refused"]


class Intent(ApiModel):
    """One thing the operator wants this member to do. The `id` makes execution
    idempotent: the pilot runs each id at most once and records its outcome."""

    model_config = ConfigDict(
        json_schema_extra=k8s(
            **{
                "x-kubernetes-validations": [
                    rule(
                        "self == oldSelf",
                        "an intent cannot change once written: add a new id instead",
                    )
                ]
            }
        )
    )

    id: str = Field(
        description="Identity of the intent, unique within the Pilot.",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    )
    action: Action = Field(
        description="What to do: Decommission (leave the ring), or Replace (start, on an"
        " empty volume, as the replacement of the dead node `address` whose host ID is"
        " `hostID`: it takes over its tokens and streams their data from the replicas)."
    )
    address: str = Field(
        "", description="Replace: the address of the node to replace.", max_length=64
    )
    host_id: str = Field(
        "",
        alias="hostID",
        description="Replace: the host ID of the node to replace.",
        max_length=64,
    )


class PilotSpec(ApiModel):
    """Intents written by the operator."""

    cluster: str = Field(
        "", description="Name of the cluster this member belongs to.", max_length=253
    )
    intents: list[Intent] = Field(
        default_factory=list,
        description="The operator's intents for this member; ids are unique.",
        json_schema_extra=k8s(
            **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
            maxItems=16,
        ),
    )


class Peer(ApiModel):
    """Another node of the ring, as this member sees it."""

    address: str = Field("", description="Peer address.", max_length=64)
    host_id: str = Field("", alias="hostID", description="Peer host ID.", max_length=64)
    up: bool = Field(False, description="Whether gossip sees the peer up.")
    state: str = Field("", description="Ring state (Normal, Joining, Leaving...).", max_length=32)
    status: str = Field("", description="Two-letter nodetool status, e.g. UN.", max_length=8)
    datacenter: str = Field("", description="Peer datacenter.", max_length=64)
    rack: str = Field("", description="Peer rack.", max_length=64)
    load: str = Field("", description="Data load as Cassandra reports it.", max_length=64)


class Keyspace(ApiModel):
    """A keyspace and its replication."""

    name: str = Field(description="Keyspace name.", max_length=64)
    strategy: str = Field("", description="Replication strategy class.", max_length=256)
    replication: dict[str, int] = Field(
        default_factory=dict,
        description="Replication factor per datacenter ('*' for SimpleStrategy).",
    )


class Facts(ApiModel):
    """What the pilot observes in its database."""

    host_id: str = Field("", alias="hostID", description="This node's host ID.", max_length=64)
    operation_mode: str = Field(
        "",
        description="Operation mode (NORMAL, JOINING, LEAVING, DECOMMISSIONED...).",
        max_length=32,
    )
    release_version: str = Field("", description="Cassandra version running.", max_length=32)
    schema_version: str = Field("", description="Schema version UUID.", max_length=64)
    cluster_name: str = Field("", description="Cluster name Cassandra reports.", max_length=256)
    native_transport_running: bool = Field(False, description="Whether CQL is served.")
    peers: list[Peer] = Field(default_factory=list, description="The ring as this node sees it.")
    keyspaces: list[Keyspace] = Field(
        default_factory=list, description="Keyspaces and their replication."
    )
    hints_pending: dict[str, int] | None = Field(
        None,
        description="Hint files this node holds for others, by host ID (writes a down"
        " or slow replica missed, to be delivered to it). Absent when unknown.",
        json_schema_extra=k8s(maxProperties=1000),
    )


class IntentOutcome(ApiModel):
    """What became of one intent."""

    id: str = Field(description="The intent's id.", max_length=64)
    action: str = Field("", description="The intent's action.", max_length=64)
    phase: Phase = Field(description="Running, Succeeded, Failed or Refused.")
    message: str = Field("", description="Details, e.g. why it was refused.", max_length=4096)
    attempts: int = Field(0, description="How many times it was started.", ge=0)
    started_at: str = Field(
        "",
        alias="startedAt",
        description="When the attempt that is running began (RFC 3339, UTC).",
        max_length=64,
    )


class StartReport(ApiModel):
    """How the pilot started its database, or why it has not yet."""

    plan: Literal["Hold", "Found", "Join", "Replace"] = Field(
        description="Hold (not started yet, see reason), Found (the first member of a new"
        " cluster, its own seed), Join (start with the joined members as seeds; an empty"
        " volume bootstraps), or Replace (take over a dead node's tokens)."
    )
    reason: str = Field("", description="Why this plan.", max_length=1024)
    volume_empty: bool = Field(
        False, description="The data volume held no data when the pilot looked."
    )
    seeds: list[str] = Field(
        default_factory=list,
        description="The seed addresses the database was started with.",
        json_schema_extra=k8s(maxItems=32),
    )
    replacing: str = Field(
        "", description="Replace: the address of the node being replaced.", max_length=64
    )


class PilotStatus(ApiModel):
    """Facts and outcomes written by the pilot."""

    facts: Facts | None = Field(None, description="What the pilot observes in its database.")
    ready: bool = Field(False, description="Whether the member is ready to serve.")
    ready_reason: str = Field("", description="Why it is (not) ready.", max_length=1024)
    database_running: bool = Field(False, description="Whether the database process runs.")
    intents: list[IntentOutcome] = Field(
        default_factory=list, description="Outcome of each intent, by id."
    )
    revision: str = Field(
        "",
        description="The pod revision this pilot runs (from its pod's"
        " navigator.dev/revision annotation).",
        max_length=64,
    )
    pod_uid: str = Field(
        "",
        alias="podUID",
        description="UID of the pod that wrote this status: a status from an earlier"
        " incarnation of the member is stale.",
        max_length=64,
    )
    config_hash: str = Field(
        "",
        description="Hash of the configuration the database was started with (its"
        " rendered files and command line).",
        max_length=64,
    )
    observed_at: str = Field(
        "",
        alias="observedAt",
        description="When the pilot last observed its database (RFC 3339, UTC). The pilot"
        " writes its status at least every 30 s; the operator treats facts older than"
        " 90 s as unknown (the pilot or its node is hung or gone).",
        max_length=64,
    )
    start: StartReport | None = Field(
        None, description="How the database was started, or why it is held back."
    )
    last_error: str | None = Field(
        None,
        description="The last error an operation returned.",
        max_length=4096,
        json_schema_extra=k8s(nullable=True),
    )


class Pilot(ApiModel):
    """One database member's intents (from the operator) and facts (from its pilot)."""

    api_version: Literal["navigator.dev/v1alpha1"] = "navigator.dev/v1alpha1"
    kind: Literal["Pilot"] = "Pilot"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PilotSpec = Field(
        default_factory=PilotSpec, description="Intents written by the operator."
    )
    status: PilotStatus | None = Field(None, description="Facts and outcomes written by the pilot.")


PRINTER_COLUMNS = [
    {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
    {"name": "Mode", "type": "string", "jsonPath": ".status.facts.operationMode"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
