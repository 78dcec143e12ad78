"""The chart rendered by the pinned helm, as parsed objects."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from navigator.local.helm import SYSTEM, template

ACCOUNT = "navigator-operator"
NAMESPACED_RULES = "navigator-operator-namespaced"
SUBJECT = {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": SYSTEM}

Obj = dict[str, Any]


@cache
def _render(sets: tuple[str, ...]) -> tuple[Obj, ...]:
    return tuple(d for d in yaml.safe_load_all(template(*sets)) if d)


def render(*sets: str) -> list[Obj]:
    """`helm template navigator -n navigator-system --set ...`, parsed (a fresh copy)."""
    return yaml.safe_load(yaml.safe_dump(list(_render(sets))))


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    [found] = [o for o in of_kind(objects, kind) if name in (None, o["metadata"]["name"])]
    return found


def container(objects: list[Obj]) -> Obj:
    [operator] = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return operator


def env(objects: list[Obj]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}
