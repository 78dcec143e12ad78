"""Generate the CRDs (structural OpenAPI v3 schemas with CEL rules) and the API
reference from the pydantic models.

pydantic's own JSON schema uses `$ref` and `anyOf`, which Kubernetes refuses as
non-structural, so this walks the models itself: every node gets a `type`,
optional fields are simply not `required`, and per-field `json_schema_extra`
(see `common.k8s`) is merged in verbatim.

Run: python -m navigator.api.crdgen <crd-dir> [<api-doc>]
"""

from __future__ import annotations

import enum
import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from navigator.api import admission, cassandra, pilot, search
from navigator.api.common import GROUP, VERSION

Schema = dict[str, Any]
CEL = "x-kubernetes-validations"


def _constraints(metadata: list[Any], schema: Schema) -> None:
    """Translate pydantic/annotated-types constraints into OpenAPI keywords."""
    is_array, is_string = schema.get("type") == "array", schema.get("type") == "string"
    for m in metadata:
        if isinstance(m, at.Ge):
            schema["minimum"] = m.ge
        elif isinstance(m, at.Le):
            schema["maximum"] = m.le
        elif isinstance(m, at.MinLen):
            schema["minItems" if is_array else "minLength"] = m.min_length
        elif isinstance(m, at.MaxLen):
            schema["maxItems" if is_array else "maxLength"] = m.max_length
        elif is_string:
            for attr, key in (("pattern", "pattern"), ("max_length", "maxLength")):
                if getattr(m, attr, None) is not None:
                    schema[key] = getattr(m, attr)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unions other than X | None are not structural: {tp}")
        return args[0]
    return tp


def schema_of(tp: Any) -> Schema:
    """The structural schema of one Python type."""
    tp = _strip_optional(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        schema = schema_of(args[0])
        _constraints(list(args[1:]), schema)
        return schema
    if tp is typing.Any:
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return model_schema(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0])}
    if origin is dict:
        # dict[str, Any] is a map of arbitrary JSON values (a map, so CEL can use `in`).
        return {"type": "object", "additionalProperties": schema_of(args[1])}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if tp in simple:
        return {"type": simple[tp]}
    raise TypeError(f"no structural schema for {tp!r}")


def _default(field: FieldInfo) -> Any:
    """The JSON default the API server should fill in, or None for none."""
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return None
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if value in (None, [], {}, ""):
        return None  # absent means "not set"; no need to store an empty value
    return value.value if isinstance(value, enum.Enum) else value


def field_schema(field: FieldInfo) -> Schema:
    schema = schema_of(field.annotation)
    _constraints(list(field.metadata), schema)
    if field.description:  # the field's own words win over its type's docstring
        schema = {"description": field.description, **schema}
        schema["description"] = field.description
    default = _default(field)
    if default is not None:
        schema["default"] = default
    if isinstance(field.json_schema_extra, dict):
        schema.update(field.json_schema_extra)
        if "properties" in schema:  # declared properties replace "any value" maps
            schema.pop("additionalProperties", None)
    return schema


def model_schema(model: type[BaseModel]) -> Schema:
    """An object schema: one property per field (by wire name), required when no default."""
    props: Schema = {}
    required = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        props[wire] = field_schema(field)
        if field.is_required():
            required.append(wire)
    schema: Schema = {"type": "object"}
    if model.__doc__:
        schema["description"] = " ".join(model.__doc__.split())
    schema["properties"] = props
    if required:
        schema["required"] = required
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict):
        schema.update(extra)
    return schema


def root_schema(model: type[BaseModel]) -> Schema:
    """The schema of a whole object: apiVersion, kind, metadata, spec, status."""
    fields = model.model_fields
    schema: Schema = {
        "type": "object",
        "description": " ".join((model.__doc__ or "").split()),
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of the object."},
            "kind": {"type": "string", "description": "Kind of the object."},
            "metadata": {"type": "object"},
            "spec": field_schema(fields["spec"]),
            "status": field_schema(fields["status"]),
        },
    }
    if fields["spec"].is_required():
        schema["required"] = ["spec"]
    # Rules that need spec and status together sit on the root: the model's own
    # `x-kubernetes-validations` (its json_schema_extra). Rules using oldSelf there
    # run on every UPDATE, including writes to /status.
    extra = model.model_config.get("json_schema_extra")
    rules = extra.get(CEL) if isinstance(extra, dict) else None
    if isinstance(rules, list) and rules:
        schema[CEL] = rules
    return schema


def crd(
    model: type[BaseModel],
    *,
    kind: str,
    plural: str,
    short_names: tuple[str, ...] = (),
    columns: list[dict[str, str]],
) -> Schema:
    names: Schema = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "categories": ["navigator"],
    }
    if short_names:
        names["shortNames"] = list(short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root_schema(model)},
                }
            ],
        },
    }


def all_crds() -> dict[str, Schema]:
    """Every CRD, by file name."""
    return {
        f"{GROUP}_{cassandra.PLURAL}.yaml": crd(
            cassandra.CassandraCluster,
            kind=cassandra.KIND,
            plural=cassandra.PLURAL,
            short_names=cassandra.SHORT_NAMES,
            columns=cassandra.PRINTER_COLUMNS,
        ),
        **{
            f"{GROUP}_{engine.plural}.yaml": crd(
                search.KINDS[engine.kind],
                kind=engine.kind,
                plural=engine.plural,
                short_names=engine.short_names,
                columns=search.printer_columns_of(engine),
            )
            for engine in search.ENGINES
        },
        f"{GROUP}_{pilot.PLURAL}.yaml": crd(
            pilot.Pilot, kind=pilot.KIND, plural=pilot.PLURAL, columns=pilot.PRINTER_COLUMNS
        ),
    }


HEADER = "# Generated by `make generate` from src/navigator/api. Do not edit.\n"


def render(obj: Schema) -> str:
    return HEADER + yaml.safe_dump(obj, sort_keys=False, width=100)


def render_all(objs: list[Schema]) -> str:
    """Several objects in one file (the admission policy and its binding)."""
    return HEADER + yaml.safe_dump_all(objs, sort_keys=False, width=100)


def write(crd_dir: Path, doc: Path | None) -> None:
    from navigator.api.docs import api_reference

    crd_dir.mkdir(parents=True, exist_ok=True)
    for name, obj in all_crds().items():
        (crd_dir / name).write_text(render(obj))
    # Cluster-scoped like the CRDs, so it is installed with them.
    (crd_dir / admission.FILE).write_text(render_all(admission.manifests()))
    if doc is not None:
        doc.write_text(api_reference(all_crds()))


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
