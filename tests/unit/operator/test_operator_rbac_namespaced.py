"""deploy/operator-namespaced grants the rules of deploy/operator's ClusterRole,
split by scope: the cluster-scoped ones stay in the (cut-down) ClusterRole
with kopf's namespace listing added,
the namespaced ones go to a ClusterRole that only RoleBindings in the watched
namespaces grant. Neither may drift from deploy/operator/rbac.yaml, and the
watched namespaces and the RoleBindings must name the same namespaces.
Whether a resource is namespaced is read from lightkube's models and the
CRDs' own `scope`, not from a list kept here."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

import lightkube.resources
import pytest
import yaml
from lightkube.core.resource import GlobalResource, NamespacedResource

from navigator.operator.cli import watched_namespaces

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).parents[3] / "deploy"
WIDE = DEPLOY / "operator"
NARROW = DEPLOY / "operator-namespaced"
ACCOUNT = "navigator-operator"
SYSTEM = "navigator-system"
NAMESPACED_RULES = "navigator-operator-namespaced"
# The one rule deploy/operator does not need: kopf lists and watches
# namespaces only when it watches named ones (clusterrole.yaml says why).
KOPF_NAMESPACES = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(path: Path, kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in docs(path) if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@cache
def scopes() -> dict[tuple[str, str], bool]:
    """(API group, plural) → namespaced, for every built-in resource lightkube
    knows, for Navigator's CRDs and for cert-manager's Certificate."""
    out: dict[tuple[str, str], bool] = {}
    for module in pkgutil.iter_modules(lightkube.resources.__path__):
        mod = importlib.import_module(f"lightkube.resources.{module.name}")
        for value in vars(mod).values():
            if not isinstance(value, type) or value.__module__ != mod.__name__:
                continue
            info = getattr(value, "_api_info", None)
            if info is None or info.parent is not None:  # subresources: by their parent
                continue
            if issubclass(value, NamespacedResource):
                out[(info.resource.group, info.plural)] = True
            elif issubclass(value, GlobalResource):
                out[(info.resource.group, info.plural)] = False
    for crd in sorted((DEPLOY / "crds").glob("*.yaml")):
        for doc in docs(crd):
            if doc["kind"] == "CustomResourceDefinition":
                spec = doc["spec"]
                out[(spec["group"], spec["names"]["plural"])] = spec["scope"] == "Namespaced"
    # Other projects' kinds the operator writes (spec.tls.certManager).
    out[("cert-manager.io", "certificates")] = True
    return out


def namespaced(group: str, resource: str) -> bool:
    key = (group, resource.split("/", maxsplit=1)[0])  # `pods/log` is as namespaced as pods
    assert key in scopes(), f"unknown resource {key}"
    return scopes()[key]


def rule_scope(rule: dict[str, Any]) -> bool:
    """Whether a rule is about namespaced resources; a rule must not mix."""
    found = {namespaced(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    assert len(found) == 1, f"a rule mixes namespaced and cluster-scoped resources: {rule}"
    return found.pop()


def wide_rules() -> list[dict[str, Any]]:
    return list(one(WIDE / "rbac.yaml", "ClusterRole", ACCOUNT)["rules"])


def test_the_scope_table_knows_the_kinds() -> None:
    assert namespaced("", "persistentvolumeclaims")
    assert namespaced("coordination.k8s.io", "leases")
    assert namespaced("navigator.dev", "cassandraclusters/status")
    assert not namespaced("", "persistentvolumes")
    assert not namespaced("", "nodes")
    assert not namespaced("storage.k8s.io", "storageclasses")
    assert not namespaced("apiextensions.k8s.io", "customresourcedefinitions")


def test_the_namespaced_rules_are_the_cluster_roles_namespaced_rules() -> None:
    granted = one(NARROW / "namespaced-rules.yaml", "ClusterRole", NAMESPACED_RULES)["rules"]
    assert granted == [r for r in wide_rules() if rule_scope(r)]
    assert all(rule_scope(r) for r in granted)


def test_the_cluster_role_keeps_only_cluster_scoped_reads() -> None:
    kept = one(NARROW / "clusterrole.yaml", "ClusterRole", ACCOUNT)["rules"]
    assert kept == [r for r in wide_rules() if not rule_scope(r)] + [KOPF_NAMESPACES]
    assert not any(rule_scope(r) for r in kept)
    reads = {"get", "list", "watch"}
    assert all(set(r["verbs"]) <= reads for r in kept), kept
    # The patch replaces the base's rules, under the base's own name, so the
    # base's ClusterRoleBinding grants only these.
    base = {(d["kind"], d["metadata"]["name"]) for d in docs(WIDE / "rbac.yaml")}
    assert ("ClusterRole", ACCOUNT) in base
    assert ("ClusterRoleBinding", ACCOUNT) in base


def test_the_namespaced_rules_are_bound_only_in_the_watched_namespaces() -> None:
    bindings = docs(NARROW / "rolebindings.yaml")
    assert bindings
    for doc in [d for f in sorted(NARROW.glob("*.yaml")) for d in docs(f)]:
        if doc["kind"] == "ClusterRoleBinding":
            assert doc["roleRef"]["name"] != NAMESPACED_RULES
    for binding in bindings:
        assert binding["kind"] == "RoleBinding"
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": NAMESPACED_RULES,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": SYSTEM}
        ]
    bound = [b["metadata"]["namespace"] for b in bindings]
    assert len(bound) == len(set(bound)), bound
    assert SYSTEM not in bound  # the operator's own namespace gets its Lease only

    patch = one(NARROW / "deployment.yaml", "Deployment", ACCOUNT)
    base = one(WIDE / "deployment.yaml", "Deployment", ACCOUNT)
    assert patch["metadata"]["namespace"] == base["metadata"]["namespace"] == SYSTEM
    [container] = patch["spec"]["template"]["spec"]["containers"]
    [shipped] = base["spec"]["template"]["spec"]["containers"]
    assert container["name"] == shipped["name"]
    [env] = [e for e in container["env"] if e["name"] == "NAVIGATOR_WATCH_NAMESPACES"]
    watched = watched_namespaces((env["value"],))
    assert watched, "an empty list would watch every namespace, where nothing is granted"
    assert set(watched) == set(bound)


def test_the_kustomization_builds_on_deploy_operator() -> None:
    kustomization = yaml.safe_load((NARROW / "kustomization.yaml").read_text())
    assert kustomization["resources"][0] == "../operator"
    files = kustomization["resources"][1:] + [p["path"] for p in kustomization["patches"]]
    assert sorted(files) == sorted(
        p.name for p in NARROW.glob("*.yaml") if p.name != "kustomization.yaml"
    )
