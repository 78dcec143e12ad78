"""Reading the generated CRD schemas in tests: a kind's schema and its nodes by path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from navigator.api import crdgen

Schema = dict[str, Any]


def schema_of(plural: str) -> Schema:
    """The openAPIV3Schema of the CRD `<plural>.navigator.dev`, as generated."""
    crd = crdgen.all_crds()[f"navigator.dev_{plural}.yaml"]
    schema: Schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def nodes(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every node with its path: `.spec.nodePools[].name`; a map's values are `{}`."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def at(schema: Schema, path: str) -> Schema:
    """The node at `path` (a dotted key's flat and nested forms share a path:
    the nested one, which comes later, wins)."""
    return dict(nodes(schema))[path]
