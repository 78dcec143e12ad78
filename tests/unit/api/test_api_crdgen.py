"""The generated CRDs: structural, committed, and carrying their CEL rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from navigator.api import crdgen
from navigator.api.docs import api_reference

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
CRDS = crdgen.all_crds()


def _schema(name: str) -> dict[str, Any]:
    crd = CRDS[f"navigator.dev_{name}.yaml"]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(_nodes(schema))[path]


@pytest.mark.parametrize("name", sorted(CRDS))
def test_generated_files_are_committed(name: str) -> None:
    assert (ROOT / "deploy" / "crds" / name).read_text() == crdgen.render(CRDS[name]), (
        "run `make generate` and commit"
    )


def test_api_reference_is_committed() -> None:
    assert (ROOT / "docs" / "api.md").read_text() == api_reference(CRDS)


@pytest.mark.parametrize("kind", ["cassandraclusters", "pilots"])
def test_schema_is_structural(kind: str) -> None:
    for path, node in _nodes(_schema(kind)):
        assert not {"$ref", "anyOf", "oneOf", "allOf", "not"} & node.keys(), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        if node.get("type") == "array":
            assert "items" in node, path


@pytest.mark.parametrize("kind", ["cassandraclusters", "pilots"])
def test_every_spec_field_is_described(kind: str) -> None:
    for path, node in _nodes(_schema(kind)):
        if path.startswith((".spec", ".status")) and not path.endswith(("[]", "{}")):
            assert node.get("description"), path


def test_names_and_subresources() -> None:
    spec = CRDS["navigator.dev_cassandraclusters.yaml"]["spec"]
    assert spec["group"] == "navigator.dev"
    assert spec["names"]["shortNames"] == ["cass"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Ready", "Version", "Status", "Age"]


def _messages(node: dict[str, Any]) -> str:
    return " ".join(r["message"] for r in node.get("x-kubernetes-validations", []))


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("", "can only go back to a version a member still runs"),
        (".spec.version", "cannot go back to an older major version"),
        (".spec.version", "skip a major version"),
        (".spec.nodePools[].datacenter", "immutable"),
        (".spec.nodePools[]", "rack is immutable"),
        (".spec.nodePools[].persistence", "storageClassName is immutable"),
        (".spec.nodePools[].persistence.size", "never shrink"),
        (".spec.config.cassandraYaml", "Navigator owns it"),
        (".spec.config.cassandraYaml", "must not set auto_bootstrap: Navigator owns it (a member"),
    ],
)
def test_cel_rules_are_present(path: str, fragment: str) -> None:
    assert fragment in _messages(_at(_schema("cassandraclusters"), path))


def test_version_way_back_is_a_root_transition_rule_on_old_status() -> None:
    """Field rules cannot see status, so the way back sits on the root; it must
    point its error at spec.version, pass whenever the version is unchanged (status
    writes evaluate root rules too) and read only what the operator wrote."""
    root = _schema("cassandraclusters")
    [way_back] = root["x-kubernetes-validations"]
    assert way_back["fieldPath"] == ".spec.version"
    assert "status.members[].version" in way_back["message"]
    expr = way_back["rule"]
    assert "self.spec.version == oldSelf.spec.version ||" in expr
    assert "has(oldSelf.status) && has(oldSelf.status.members)" in expr
    assert ".exists(m, has(m.version) && m.version == self.spec.version)" in expr
    assert "self.status" not in expr.replace("oldSelf.status", "")
    members = _at(root, ".status.members")
    assert members["x-kubernetes-list-type"] == "map"
    assert members["maxItems"] <= 1000
    assert "maxLength" in _at(root, ".status.members[].version")
    version = _at(root, ".spec.version")
    assert "downgraded" not in _messages(version)
    assert "still runs" in version["description"]


def test_pool_list_is_a_map_keyed_by_name() -> None:
    pools = _at(_schema("cassandraclusters"), ".spec.nodePools")
    assert pools["x-kubernetes-list-type"] == "map"
    assert pools["x-kubernetes-list-map-keys"] == ["name"]
    assert pools["maxItems"] <= 32


def test_lists_with_cel_are_bounded() -> None:
    """CEL cost limits: every list and string a rule touches has a maximum size."""
    for path, node in _nodes(_schema("cassandraclusters")):
        if path.startswith(".spec") and node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("x-kubernetes-validations") and node.get("type") == "string":
            assert "maxLength" in node, path


def test_defaults_are_declared() -> None:
    schema = _schema("cassandraclusters")
    assert _at(schema, ".spec.nodePools[].datacenter")["default"] == "dc1"
    assert _at(schema, ".spec.nodePools[].persistence.size")["default"] == "10Gi"
    policy = _at(schema, ".spec.persistentVolumeClaimRetentionPolicy")
    assert policy["default"] == {"whenScaled": "Retain", "whenDeleted": "Retain"}
