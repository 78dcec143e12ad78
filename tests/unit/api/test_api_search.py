"""OpenSearchCluster and ElasticsearchCluster: one set of types, two engines.

What the API server enforces (CEL) is proved against a real kube-apiserver in
tests/integration/api (the `invalid-search/` corpus); here: the Python types,
and that the generated schemas carry each rule, once per engine.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from navigator.api import crdgen
from navigator.api.search import (
    ELASTICSEARCH,
    ENGINES,
    KINDS,
    OPENSEARCH,
    OWNED_SETTINGS,
    ElasticsearchCluster,
    Engine,
    OpenSearchCluster,
    SearchCluster,
    SearchClusterSpec,
    SearchNodePool,
)
from navigator.testing.crd import at as schema_at
from navigator.testing.crd import nodes, schema_of

pytestmark = pytest.mark.unit

CRDS = crdgen.all_crds()
ENGINE_IDS = [e.name for e in ENGINES]


def schema(engine: Engine) -> dict[str, Any]:
    return schema_of(engine.plural)


def at(engine: Engine, path: str) -> dict[str, Any]:
    return schema_at(schema(engine), path)


def rules(node: dict[str, Any]) -> list[dict[str, Any]]:
    return list(node.get("x-kubernetes-validations", []))


def cluster(engine: Engine, *pools: dict[str, Any], version: str | None = None) -> SearchCluster:
    spec = {"version": version or engine.example_version, "nodePools": list(pools)}
    return KINDS[engine.kind].model_validate({"metadata": {"name": "c"}, "spec": spec})


def pool(name: str, replicas: int, *roles: str) -> dict[str, Any]:
    return {"name": name, "replicas": replicas, "roles": list(roles)}


def test_both_kinds_are_the_shared_types() -> None:
    for engine, kind in ((OPENSEARCH, OpenSearchCluster), (ELASTICSEARCH, ElasticsearchCluster)):
        obj = cluster(engine, pool("a", 3, engine.manager_role, "data"))
        assert isinstance(obj, SearchCluster)
        assert isinstance(obj.spec, SearchClusterSpec)
        assert isinstance(obj.spec.node_pools[0], SearchNodePool)
        assert type(obj) is kind
        assert obj.kind == engine.kind
        assert kind.ENGINE is engine


def test_the_schemas_differ_only_where_the_engines_do() -> None:
    """Same fields in both kinds, but for the owned setting only OpenSearch has
    (the manager-bootstrap key's new name)."""
    paths = {e.name: {p for p, _ in nodes(schema(e))} for e in ENGINES}
    only_opensearch = paths["OpenSearch"] - paths["Elasticsearch"]
    assert paths["Elasticsearch"] <= paths["OpenSearch"]
    assert only_opensearch
    assert all("initial_cluster_manager_nodes" in p for p in only_opensearch), only_opensearch


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_pool_defaults(engine: Engine) -> None:
    [p] = cluster(engine, pool("a", 3, engine.manager_role)).spec.node_pools
    assert p.config.settings == {}
    assert p.persistence.size == "10Gi"
    assert at(engine, ".spec.nodePools[].config")["default"] == {"settings": {}}


@pytest.mark.parametrize(
    ("engine", "foreign"), [(OPENSEARCH, "master"), (ELASTICSEARCH, "cluster_manager")]
)
def test_roles_are_the_engines_own(engine: Engine, foreign: str) -> None:
    assert at(engine, ".spec.nodePools[].roles[]")["enum"] == [
        engine.manager_role,
        "data",
        "ingest",
    ]
    with pytest.raises(ValidationError):
        cluster(engine, pool("a", 3, foreign))


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_roles_are_required_and_may_be_empty(engine: Engine) -> None:
    coordinating = cluster(engine, pool("m", 1, engine.manager_role), pool("c", 2))
    assert coordinating.spec.node_pools[1].roles == []
    with pytest.raises(ValidationError):
        cluster(engine, {"name": "a", "replicas": 3})
    roles = at(engine, ".spec.nodePools[]")
    assert "roles" in roles["required"]


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_roles_are_a_set(engine: Engine) -> None:
    roles = at(engine, ".spec.nodePools[].roles")
    assert roles["x-kubernetes-list-type"] == "set"  # the API server refuses a repeat
    assert roles["maxItems"] == 3


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_manager_members_are_the_replicas_of_manager_pools(engine: Engine) -> None:
    m = engine.manager_role
    obj = cluster(engine, pool("m", 3, m), pool("d", 4, "data"), pool("md", 2, m, "data"))
    assert obj.manager_members() == 5


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_manager_rules_sit_on_the_pool_list(engine: Engine) -> None:
    pools = at(engine, ".spec.nodePools")
    assert pools["x-kubernetes-list-type"] == "map"
    assert pools["x-kubernetes-list-map-keys"] == ["name"]
    exists, odd = rules(pools)
    assert exists["rule"] == f"self.exists(p, '{engine.manager_role}' in p.roles)"
    assert f"at least one pool must have the {engine.manager_role} role" in exists["message"]
    assert "self.filter(p, " in odd["rule"]
    assert ".map(p, p.replicas).sum() % 2 == 1" in odd["rule"]
    assert "tolerates no more failures than one fewer; use 1, 3 or 5" in odd["message"]


@pytest.mark.parametrize(
    ("engine", "accepted", "refused"),
    [
        (
            OPENSEARCH,
            ["2.19.1", "3.0.0", "2.0.0", "10.1.2"],
            ["1.3.20", "2.19", "02.1.1", "2.19.1-rc1"],
        ),
        (ELASTICSEARCH, ["8.19.3", "8.0.0", "9.1.0"], ["7.10.2", "8.19", "8.19.3.1", "v8.19.3"]),
    ],
    ids=ENGINE_IDS[::-1],
)
def test_version_pattern(engine: Engine, accepted: list[str], refused: list[str]) -> None:
    p = pool("a", 1, engine.manager_role)
    for version in accepted:
        assert cluster(engine, p, version=version).spec.version == version
    for version in refused:
        with pytest.raises(ValidationError):
            cluster(engine, p, version=version)


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_version_rules(engine: Engine) -> None:
    pattern, back, skip = rules(at(engine, ".spec.version"))
    assert f"major version {engine.first_major} or later" in pattern["message"]
    assert "cannot go back to an older version" in back["message"]
    assert "oldSelf" in back["rule"]
    assert "skip a major version" in skip["message"]
    assert "- int(oldSelf.split('.')[0]) <= 1" in skip["rule"]


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_owned_settings_are_refused_by_name_flat_and_nested(engine: Engine) -> None:
    settings = at(engine, ".spec.nodePools[].config.settings")
    flat = {r["fieldPath"]: r for r in rules(settings)}
    assert set(engine.owned_settings) >= set(OWNED_SETTINGS)
    for key, json_type in engine.owned_settings.items():
        assert settings["properties"][key]["description"] == "Set by Navigator: refused."
        assert settings["properties"][key].items() >= json_type.items()  # typed: CEL sees it
        rule = flat[f"['{key}']"]
        assert rule["rule"] == f"!has(self.{key.replace('.', '__dot__')})"
        assert f"settings must not set {key}: it is set by Navigator" in rule["message"]
        head, rest = key.split(".", 1)
        nested = {r["fieldPath"]: r for r in rules(settings["properties"][head])}
        assert nested[f".{rest}"]["rule"] == f"!has(self.{rest})"
        assert nested[f".{rest}"]["message"] == rule["message"]
    assert settings["x-kubernetes-preserve-unknown-fields"] is True
    assert key in settings["description"]


def test_each_engine_owns_its_bootstrap_keys() -> None:
    assert "cluster.initial_cluster_manager_nodes" in OPENSEARCH.owned_settings
    assert "cluster.initial_master_nodes" in OPENSEARCH.owned_settings  # the older name
    assert "cluster.initial_master_nodes" in ELASTICSEARCH.owned_settings
    assert "cluster.initial_cluster_manager_nodes" not in ELASTICSEARCH.owned_settings


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_names_columns_and_status(engine: Engine) -> None:
    spec = CRDS[f"navigator.dev_{engine.plural}.yaml"]["spec"]
    assert spec["names"]["kind"] == engine.kind
    assert spec["names"]["shortNames"] == list(engine.short_names)
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Ready", "Version", "Health", "Status", "Age"]
    assert columns["Health"] == ".status.health"
    health = at(engine, ".status.health")
    assert health["enum"] == ["green", "yellow", "red", "unknown"]
    assert health["default"] == "unknown"


def test_descriptions_name_the_engine() -> None:
    for engine in ENGINES:
        assert (
            engine.settings_file in at(engine, ".spec.nodePools[].config.settings")["description"]
        )
        assert engine.name in at(engine, ".spec.version")["description"]
        assert "cassandra" not in at(engine, ".spec.image")["description"].lower()
