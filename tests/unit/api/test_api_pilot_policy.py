"""The pilots' admission policy (issue 15): generated, committed, and
selecting exactly the pilots' ServiceAccounts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from navigator.api import admission, crdgen
from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra.builders.meta import pilot_account_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
COMMITTED = ROOT / "deploy" / "crds" / admission.FILE


def test_generated_file_is_committed() -> None:
    assert COMMITTED.read_text() == crdgen.render_all(admission.manifests()), (
        "run `make generate` and commit"
    )


def test_policy_and_binding() -> None:
    policy, binding = yaml.safe_load_all(COMMITTED.read_text())
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    assert policy["spec"]["failurePolicy"] == "Fail"
    (match,) = policy["spec"]["matchConditions"]
    assert admission.ACCOUNT_PATTERN in match["expression"]
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["navigator.dev"]
    assert rule["resources"] == ["pilots", "pilots/status"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE", "DELETE"}
    assert all(v["reason"] == "Forbidden" for v in policy["spec"]["validations"])
    assert all(admission.RULE in v["messageExpression"] for v in policy["spec"]["validations"])


@pytest.mark.parametrize("cluster", ["c", "db", "multi-rack", "a.b", "x-pilot"])
def test_every_pilot_account_is_matched(cluster: str) -> None:
    obj = CassandraCluster.model_validate(
        {
            "metadata": {"name": cluster, "namespace": "db"},
            "spec": {"version": "5.0.6", "nodePools": [{"name": "rack1", "replicas": 1}]},
        }
    )
    username = f"system:serviceaccount:db:{pilot_account_name(obj)}"
    assert re.fullmatch(admission.ACCOUNT_PATTERN.strip("^$"), username)


@pytest.mark.parametrize(
    "username",
    [
        "system:serviceaccount:navigator-system:navigator-operator",
        "system:serviceaccount:db:default",
        "system:serviceaccount:db:pilot",  # the pilot e2e harness's shared account
        "system:serviceaccount:db:autopilot",
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:serviceaccount:kube-system:namespace-controller",
        "kubernetes-admin",
        "system:admin",
        "someone-pilot",  # not a ServiceAccount
    ],
)
def test_nobody_else_is_matched(username: str) -> None:
    assert not re.search(admission.ACCOUNT_PATTERN, username)
