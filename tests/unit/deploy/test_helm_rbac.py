"""The chart's RBAC in both modes. Cluster-wide (watchNamespaces empty): one
ClusterRole, bound cluster-wide. Namespaced (watchNamespaces=[a, b]): the same
rules split by scope: the cluster-scoped ones stay in the ClusterRole (bound
cluster-wide, with kopf's namespace listing added), the namespaced ones go to
a ClusterRole that only RoleBindings in the watched namespaces grant. Whether
a resource is namespaced is read from lightkube's models and the CRDs' own
`scope`, not from a list kept here.

tests/integration/operator/test_operator_rbac*.py run the real operator with
these rights (as rendered into deploy/operator and deploy/operator-namespaced)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

import lightkube.resources
import pytest
import yaml
from helmchart import ACCOUNT, NAMESPACED_RULES, SUBJECT, Obj, env, of_kind, one, render
from lightkube.core.resource import GlobalResource, NamespacedResource

from navigator.local.helm import SYSTEM
from navigator.operator.cli import watched_namespaces
from navigator.operator.core.leader import LEASE_NAME
from navigator.pilot.rbac import PILOT_RULES

pytestmark = pytest.mark.unit

CRDS = Path(__file__).parents[3] / "deploy" / "crds"
WATCHED = ("a", "b")
NAMESPACED = f"watchNamespaces={{{','.join(WATCHED)}}}"
# The one rule the cluster-wide mode does not need: kopf lists and watches
# namespaces only when it watches named ones (templates/rbac.yaml says why).
KOPF_NAMESPACES = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}
READS = {"get", "list", "watch"}


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
    for crd in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(crd.read_text()):
            if doc and doc["kind"] == "CustomResourceDefinition":
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


def rules(objects: list[Obj], name: str = ACCOUNT) -> list[dict[str, Any]]:
    return list(one(objects, "ClusterRole", name)["rules"])


def grants(rule_list: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rule_list
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def wide_rules() -> list[dict[str, Any]]:
    return rules(render())


def test_the_scope_table_knows_the_kinds() -> None:
    assert namespaced("", "persistentvolumeclaims")
    assert namespaced("coordination.k8s.io", "leases")
    assert namespaced("navigator.dev", "cassandraclusters/status")
    assert not namespaced("", "persistentvolumes")
    assert not namespaced("", "nodes")
    assert not namespaced("storage.k8s.io", "storageclasses")
    assert not namespaced("apiextensions.k8s.io", "customresourcedefinitions")


def test_cluster_wide_mode_binds_one_cluster_role_cluster_wide() -> None:
    objects = render()
    assert {o["metadata"]["name"] for o in of_kind(objects, "ClusterRole")} == {ACCOUNT}
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == ACCOUNT
    assert binding["subjects"] == [SUBJECT]
    assert not [b for b in of_kind(objects, "RoleBinding") if b["metadata"]["namespace"] != SYSTEM]
    assert "NAVIGATOR_WATCH_NAMESPACES" not in env(objects)
    for rule in wide_rules():
        rule_scope(rule)  # no rule mixes scopes, so the namespaced mode can split them


def test_the_namespaced_rules_are_the_cluster_roles_namespaced_rules() -> None:
    granted = rules(render(NAMESPACED), NAMESPACED_RULES)
    assert granted == [r for r in wide_rules() if rule_scope(r)]


def test_the_cluster_role_keeps_only_cluster_scoped_reads() -> None:
    objects = render(NAMESPACED)
    kept = rules(objects)
    assert kept == [r for r in wide_rules() if not rule_scope(r)] + [KOPF_NAMESPACES]
    assert not any(rule_scope(r) for r in kept)
    assert all(set(r["verbs"]) <= READS for r in kept), kept
    [binding] = of_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == ACCOUNT


def test_the_namespaced_rules_are_bound_only_in_the_watched_namespaces() -> None:
    objects = render(NAMESPACED)
    for binding in of_kind(objects, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] != NAMESPACED_RULES
    bindings = [b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": NAMESPACED_RULES,
        }
        assert binding["subjects"] == [SUBJECT]
    bound = [b["metadata"]["namespace"] for b in bindings]
    assert sorted(bound) == list(WATCHED)
    # What the operator watches: parsed as the operator parses it.
    assert watched_namespaces((env(objects)["NAVIGATOR_WATCH_NAMESPACES"],)) == WATCHED


@pytest.mark.parametrize("sets", [(), (NAMESPACED,)], ids=["cluster-wide", "namespaced"])
def test_the_lease_is_granted_by_name_in_the_releases_namespace_only(
    sets: tuple[str, ...],
) -> None:
    objects = render(*sets)
    role = one(objects, "Role")
    assert role["metadata"]["namespace"] == SYSTEM
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [LEASE_NAME],
            "verbs": ["get", "update"],
        },
    ]
    binding = one(objects, "RoleBinding", f"{ACCOUNT}-leader-election")
    assert binding["metadata"]["namespace"] == SYSTEM
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [SUBJECT]


@pytest.mark.parametrize("sets", [(), (NAMESPACED,)], ids=["cluster-wide", "namespaced"])
def test_no_secret_is_listed_or_watched_and_nothing_is_a_wildcard(sets: tuple[str, ...]) -> None:
    objects = render(*sets)
    every = [
        r for kind in ("ClusterRole", "Role") for o in of_kind(objects, kind) for r in o["rules"]
    ]
    secrets = {verb for (group, res, verb) in grants(every) if (group, res) == ("", "secrets")}
    assert secrets == {"get", "create", "patch"}
    for group, resource, verb in grants(every):
        assert "*" not in (group, resource, verb)
    assert not {verb for (_, _, verb) in grants(every)} & {"escalate", "bind", "impersonate"}


@pytest.mark.parametrize(
    ("sets", "role"),
    [((), ACCOUNT), ((NAMESPACED,), NAMESPACED_RULES)],
    ids=["cluster-wide", "namespaced"],
)
def test_the_operator_holds_what_the_pilot_role_grants(sets: tuple[str, ...], role: str) -> None:
    """The escalation rule: the operator may only write a Role that grants
    what it holds itself, where it writes it (templates/_rules.tpl says why)."""
    assert grants(list(PILOT_RULES)) <= grants(rules(render(*sets), role))
