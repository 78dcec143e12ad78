"""The generated CRDs: structural, committed, and carrying their CEL rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from navigator.api import crdgen
from navigator.api.docs import api_reference
from navigator.testing.crd import at, nodes, schema_of

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
CRDS = crdgen.all_crds()


@pytest.mark.parametrize("name", sorted(CRDS))
def test_generated_files_are_committed(name: str) -> None:
    assert (ROOT / "deploy" / "crds" / name).read_text() == crdgen.render(CRDS[name]), (
        "run `make generate` and commit"
    )


def test_api_reference_is_committed() -> None:
    assert (ROOT / "docs" / "api.md").read_text() == api_reference(CRDS)


KINDS = ["cassandraclusters", "elasticsearchclusters", "opensearchclusters", "pilots"]


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural(kind: str) -> None:
    for path, node in nodes(schema_of(kind)):
        assert not {"$ref", "anyOf", "oneOf", "allOf", "not"} & node.keys(), path
        assert (
            "type" in node
            or node.get("x-kubernetes-preserve-unknown-fields")
            or node.get("x-kubernetes-int-or-string")
        ), path
        if node.get("type") == "array":
            assert "items" in node, path


@pytest.mark.parametrize("kind", KINDS)
def test_every_spec_field_is_described(kind: str) -> None:
    for path, node in nodes(schema_of(kind)):
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
    assert fragment in _messages(at(schema_of("cassandraclusters"), path))


def test_version_way_back_is_a_root_transition_rule_on_old_status() -> None:
    """Field rules cannot see status, so the way back sits on the root; it must
    point its error at spec.version, pass whenever the version is unchanged (status
    writes evaluate root rules too) and read only what the operator wrote."""
    root = schema_of("cassandraclusters")
    [way_back] = root["x-kubernetes-validations"]
    assert way_back["fieldPath"] == ".spec.version"
    assert "status.members[].version" in way_back["message"]
    expr = way_back["rule"]
    assert "self.spec.version == oldSelf.spec.version ||" in expr
    assert "has(oldSelf.status) && has(oldSelf.status.members)" in expr
    assert ".exists(m, has(m.version) && m.version == self.spec.version)" in expr
    assert "self.status" not in expr.replace("oldSelf.status", "")
    members = at(root, ".status.members")
    assert members["x-kubernetes-list-type"] == "map"
    assert members["maxItems"] <= 1000
    assert "maxLength" in at(root, ".status.members[].version")
    version = at(root, ".spec.version")
    assert "downgraded" not in _messages(version)
    assert "still runs" in version["description"]


def test_pool_list_is_a_map_keyed_by_name() -> None:
    pools = at(schema_of("cassandraclusters"), ".spec.nodePools")
    assert pools["x-kubernetes-list-type"] == "map"
    assert pools["x-kubernetes-list-map-keys"] == ["name"]
    assert pools["maxItems"] <= 32


@pytest.mark.parametrize(
    "kind", ["cassandraclusters", "elasticsearchclusters", "opensearchclusters"]
)
def test_lists_with_cel_are_bounded(kind: str) -> None:
    """CEL cost limits: every list and string a rule touches has a maximum size."""
    for path, node in nodes(schema_of(kind)):
        if path.startswith(".spec") and node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("x-kubernetes-validations") and node.get("type") == "string":
            assert "maxLength" in node, path


def test_defaults_are_declared() -> None:
    schema = schema_of("cassandraclusters")
    assert at(schema, ".spec.nodePools[].datacenter")["default"] == "dc1"
    assert at(schema, ".spec.nodePools[].persistence.size")["default"] == "10Gi"
    policy = at(schema, ".spec.persistentVolumeClaimRetentionPolicy")
    assert policy["default"] == {"whenScaled": "Retain", "whenDeleted": "Retain"}
