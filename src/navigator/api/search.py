"""The OpenSearchCluster and ElasticsearchCluster kinds, made from one set of types.

The two engines share their model: pools of nodes with roles, a quorum of
manager-eligible nodes that elects the cluster manager, settings in one YAML
file. So one set of types describes both. An `Engine` holds what differs: the
kind's names, the manager role (`cluster_manager` on OpenSearch, `master` on
Elasticsearch), the versions it accepts and the settings that name the
manager role. `_kind(engine)` makes each engine's classes as subclasses of the
`Search*` bases, which code that serves both engines uses as its types.

Settings live in one neutral field, `config.settings`, and not in an
`opensearchYml` or `elasticsearchYml`, for three reasons:
- a cluster moving between the engines (a common migration) changes its
  kind, version and manager role, not the place where its settings are;
- the operator and the pilot serve both engines through one field;
- the field is not the file: Navigator renders `opensearch.yml` or
  `elasticsearch.yml` from it plus the settings it owns (each engine's field
  description names its file). `config` keeps room for more beside it, as
  Cassandra's `config` has `jvmOptions`.

Settings are per pool, like ECK's node sets: pools differ in what they are
for (node attributes, thread pools).

Admission (CEL, in the API server) refuses, each with the field and the reason:
settings Navigator owns (flat `node.name` or nested `node: {name: ...}`); a
malformed version, a downgrade, a skipped major; no pool with the manager
role; an even number of manager-eligible members; a role listed twice (a
`set` list); pool names that repeat (a `map` list) or are not DNS labels.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

from pydantic import Field, create_model

from navigator.api.common import (
    IMAGE_MAX,
    ApiModel,
    ClusterSpecBase,
    NodePoolBase,
    k8s,
    printer_columns,
    rule,
)
from navigator.api.conditions import ClusterStatusBase
from navigator.api.versions import (
    guard,
    no_skipped_major,
    not_older_version,
    pattern_from_major,
    pattern_rule,
)

Schema = dict[str, Any]
CEL = "x-kubernetes-validations"

# The other roles a pool may list (the first is the engine's manager role).
WORKER_ROLES = ("data", "ingest")

# Settings Navigator renders itself for every member, by name, with the JSON
# type their values have (CEL sees only typed properties): a scalar is a
# string or a number, a list a list of them. A value of another type is
# refused as of the wrong type before the rule can name the key. The keys
# that name the manager role come from the engine (`Engine.initial_manager_keys`).
_SCALAR: Schema = {"x-kubernetes-int-or-string": True}
_LIST: Schema = {"type": "array", "maxItems": 64, "items": _SCALAR}
OWNED_SETTING_TYPES: dict[str, Schema] = {
    "node.name": _SCALAR,
    "node.roles": _LIST,
    "cluster.name": _SCALAR,
    "discovery.seed_hosts": _LIST,
    "path.data": _SCALAR,
    "path.logs": _SCALAR,
    "network.host": _SCALAR,
    "network.publish_host": _SCALAR,
    "http.port": _SCALAR,
    "transport.port": _SCALAR,
}
OWNED_SETTINGS = tuple(OWNED_SETTING_TYPES)
# Why a setting is owned, where its name does not say it.
OWNED_SETTING_REASONS = {
    "node.roles": "from the pool's roles",
    "cluster.initial_cluster_manager_nodes": "Navigator bootstraps the cluster",
    "cluster.initial_master_nodes": "Navigator bootstraps the cluster",
    "path.data": "the pool's persistent volume",
}


@dataclass(frozen=True)
class Engine:
    """What differs between the search engines Navigator runs."""

    name: str  # as its makers write it
    kind: str
    plural: str
    short_names: tuple[str, ...]
    manager_role: str
    first_major: int  # the oldest major version accepted
    example_version: str
    settings_file: str
    initial_manager_keys: tuple[str, ...]

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.manager_role, *WORKER_ROLES)

    @property
    def version_pattern(self) -> str:
        return pattern_from_major(self.first_major)

    @property
    def owned_settings(self) -> dict[str, Schema]:
        """Settings Navigator sets, with their JSON types."""
        return OWNED_SETTING_TYPES | dict.fromkeys(self.initial_manager_keys, _LIST)


OPENSEARCH = Engine(
    name="OpenSearch",
    kind="OpenSearchCluster",
    plural="opensearchclusters",
    short_names=("os", "oscluster"),
    manager_role="cluster_manager",
    first_major=2,
    example_version="2.19.1",
    settings_file="opensearch.yml",
    # OpenSearch still reads the key's older name.
    initial_manager_keys=(
        "cluster.initial_cluster_manager_nodes",
        "cluster.initial_master_nodes",
    ),
)
ELASTICSEARCH = Engine(
    name="Elasticsearch",
    kind="ElasticsearchCluster",
    plural="elasticsearchclusters",
    short_names=("es", "escluster"),
    manager_role="master",
    first_major=8,
    example_version="8.19.3",
    settings_file="elasticsearch.yml",
    initial_manager_keys=("cluster.initial_master_nodes",),
)
ENGINES = (ELASTICSEARCH, OPENSEARCH)

Health = Literal["green", "yellow", "red", "unknown"]
HEALTH_COLUMN = {
    "name": "Health",
    "type": "string",
    "jsonPath": ".status.health",
    "description": "Cluster health as the engine reports it: green, yellow or red",
}


# The bases: what both engines' classes are. `_kind` overrides the fields whose
# type, description or rules depend on the engine.


class SearchConfig(ApiModel):
    """Overrides of the engine's configuration."""

    settings: dict[str, Any] = Field(default_factory=dict)


class SearchNodePool(NodePoolBase):
    """A set of identical members with the same roles: one StatefulSet."""

    roles: list[str]
    config: SearchConfig


class SearchClusterSpec(ClusterSpecBase):
    """The search cluster the user wants."""

    version: str
    node_pools: list[SearchNodePool]


class SearchClusterStatus(ClusterStatusBase):
    """What the operator observes about the cluster."""

    health: Health = Field(
        "unknown",
        description="Cluster health as the engine reports it (_cluster/health): green"
        " (every shard allocated), yellow (a replica shard unallocated), red (a primary"
        " shard unallocated), unknown (no member answered lately).",
    )


class SearchCluster(ApiModel):
    """A search cluster run by Navigator (an OpenSearchCluster or an ElasticsearchCluster)."""

    ENGINE: ClassVar[Engine]

    api_version: Literal["navigator.dev/v1alpha1"] = "navigator.dev/v1alpha1"
    kind: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SearchClusterSpec
    status: SearchClusterStatus | None = Field(
        None, description="What the operator observes (written by the operator only)."
    )

    def manager_members(self) -> int:
        """Members eligible to manage the cluster: the replicas of the pools with
        the manager role (admission keeps this number odd)."""
        role = self.ENGINE.manager_role
        return sum(p.replicas for p in self.spec.node_pools if role in p.roles)


# Owned settings: refused by name, flat (`node.name: x`) or nested (`node: {name: x}`),
# the two ways both engines read a setting. Declared as typed properties so CEL
# sees them; one cheap `!has()` rule each names the key in the error.


def _owned(json_type: Schema) -> Schema:
    """An owned setting's property, refused by a rule (a fresh dict: no YAML anchors)."""
    return {"description": "Set by Navigator: refused.", **copy.deepcopy(json_type)}


def owned_message(key: str) -> str:
    reason = OWNED_SETTING_REASONS.get(key)
    return f"settings must not set {key}: it is set by Navigator" + (
        f" ({reason})" if reason else ""
    )


def _cel_name(key: str) -> str:
    """A property name as CEL spells it (Kubernetes escapes '.' as __dot__)."""
    return key.replace(".", "__dot__")


def _nested(keys: dict[str, Schema]) -> dict[str, Schema]:
    """`node: {name: ...}` and the like: one object per first part of an owned key."""
    heads: dict[str, Schema] = {}
    for key, json_type in keys.items():
        head, rest = key.split(".", 1)
        node = heads.setdefault(
            head,
            {
                "type": "object",
                "description": f"The {head}.* settings as a nested map; those Navigator"
                " sets are refused here too.",
                "properties": {},
                "x-kubernetes-preserve-unknown-fields": True,
                CEL: [],
            },
        )
        node["properties"][rest] = _owned(json_type)
        node[CEL].append(rule(f"!has(self.{rest})", owned_message(key), fieldPath=f".{rest}"))
    return heads


def _settings_field(engine: Engine) -> Any:
    keys = engine.owned_settings
    return Field(
        default_factory=dict,
        description=f"Settings merged over the {engine.settings_file} Navigator renders"
        " for the pool's members: flat dotted keys (cluster.routing.allocation.awareness"
        ".attributes: zone) or nested maps. Settings Navigator sets are refused:"
        f" {', '.join(keys)}.",
        json_schema_extra=k8s(
            properties={**{k: _owned(t) for k, t in keys.items()}, **_nested(keys)},
            maxProperties=256,
            **{
                "x-kubernetes-preserve-unknown-fields": True,
                CEL: [
                    rule(f"!has(self.{_cel_name(k)})", owned_message(k), fieldPath=f"['{k}']")
                    for k in keys
                ],
            },
        ),
    )


def _roles_field(engine: Engine) -> Any:
    m = engine.manager_role
    return Field(
        description=f"Roles of the pool's members, each at most once: {m} (eligible to be"
        f" elected the cluster's manager), data (holds shards), ingest (runs ingest"
        " pipelines). An empty list makes coordinating-only members, which route"
        f" requests and merge results. Across the pools the {m} members must be an odd"
        " number: 1, 3 or 5.",
        max_length=len(engine.roles),
        json_schema_extra=k8s(**{"x-kubernetes-list-type": "set"}),
    )


def _manager_rules(engine: Engine) -> list[Schema]:
    """Rules on the pool list: a manager exists, and the manager-eligible members
    are an odd number (a majority of 2n survives as many failures as of 2n-1)."""
    m = engine.manager_role
    has_role = f"'{m}' in p.roles"
    count = f"self.filter(p, {has_role}).map(p, p.replicas).sum()"
    why = (
        f"an even number of {m}-eligible nodes tolerates no more failures than one"
        " fewer; use 1, 3 or 5"
    )
    # No messageExpression with the count: the API server estimates its cost
    # (a string of unknown length) far over the budget.
    return [
        rule(
            f"self.exists(p, {has_role})",
            f"at least one pool must have the {m} role: the cluster elects its manager"
            " among those members",
        ),
        rule(
            f"!self.exists(p, {has_role}) || {count} % 2 == 1",
            f"the pools with the {m} role must have an odd number of members in all: {why}",
        ),
    ]


def _version_rules(engine: Engine) -> list[Schema]:
    pattern = engine.version_pattern
    return [
        pattern_rule(
            pattern,
            "version must be major.minor.patch with major version"
            f" {engine.first_major} or later, e.g. {engine.example_version}",
        ),
        rule(
            guard(pattern, not_older_version("self", "oldSelf")),
            f"version cannot go back to an older version: {engine.name} does not start on"
            " data a newer version has written",
        ),
        no_skipped_major(pattern),
    ]


def _spec_fields(engine: Engine, pool: type[SearchNodePool]) -> dict[str, Any]:
    return {
        "version": (
            str,
            Field(
                description=f"{engine.name} version, x.y.z with major {engine.first_major}"
                f" or later (e.g. {engine.example_version}). It may go up to any newer"
                " minor or patch, or to the next major (never skipping one); it never goes"
                f" back: {engine.name} does not start on data a newer version has written.",
                max_length=16,
                pattern=engine.version_pattern,
                json_schema_extra=k8s(**{CEL: _version_rules(engine)}),
            ),
        ),
        "image": (
            str | None,
            Field(
                None,
                description="Database image override. By default the image Navigator"
                f" builds for `version`: {engine.name} with the pilot (Navigator's"
                " in-pod agent) baked in.",
                min_length=1,
                max_length=IMAGE_MAX,
            ),
        ),
        "node_pools": (
            list[pool],  # type: ignore[valid-type]
            Field(
                description="The pools of members; names are unique. At least one pool"
                f" has the {engine.manager_role} role, and those pools have an odd number"
                " of members in all.",
                min_length=1,
                max_length=32,
                json_schema_extra=k8s(
                    **{
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        CEL: _manager_rules(engine),
                    }
                ),
            ),
        ),
    }


def _kind(engine: Engine) -> type[SearchCluster]:
    """The engine's classes: config, node pool, spec and the kind itself."""
    prefix = engine.kind.removesuffix("Cluster")
    config = create_model(
        f"{prefix}Config",
        __base__=SearchConfig,
        __doc__=f"Overrides of {engine.name}'s configuration.",
        settings=(dict[str, Any], _settings_field(engine)),
    )
    roles = cast(Any, Literal)[engine.roles]
    pool = create_model(
        f"{prefix}NodePool",
        __base__=SearchNodePool,
        __doc__=f"A set of identical {engine.name} nodes with the same roles: one StatefulSet.",
        roles=(list[roles], _roles_field(engine)),  # type: ignore[valid-type]
        config=(
            config,
            Field(default_factory=config, description=f"{engine.settings_file} overrides."),
        ),
    )
    spec = create_model(
        f"{prefix}ClusterSpec",
        __base__=SearchClusterSpec,
        __doc__=f"The {engine.name} cluster the user wants.",
        **_spec_fields(engine, pool),
    )
    kind = create_model(
        engine.kind,
        __base__=SearchCluster,
        __doc__=f"An {engine.name} cluster run by Navigator.",
        kind=(cast(Any, Literal)[engine.kind], engine.kind),
        spec=(spec, Field(description="The cluster the user wants.")),
    )
    kind.ENGINE = engine
    return kind


ElasticsearchCluster = _kind(ELASTICSEARCH)
OpenSearchCluster = _kind(OPENSEARCH)
KINDS: dict[str, type[SearchCluster]] = {
    k.ENGINE.kind: k for k in (ElasticsearchCluster, OpenSearchCluster)
}


def printer_columns_of(engine: Engine) -> list[dict[str, str]]:
    """READY, VERSION, HEALTH, STATUS, AGE."""
    return printer_columns(engine.name, HEALTH_COLUMN)
