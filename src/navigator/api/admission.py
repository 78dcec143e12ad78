"""A pilot speaks only for its own member: a ValidatingAdmissionPolicy.

The pilots' Role (`navigator.pilot.rbac.PILOT_RULES`) lets a pilot patch
`pilots/status`, and RBAC cannot name the object (the Role is one per
cluster, shared by every member). A Pilot's status is the operator's only
evidence for removing a member, so a pilot that could write another member's
status could forge "decommissioned" for it. This policy closes that in the
API server: a request on `pilots` or `pilots/status` made by a pilot's
ServiceAccount (`<cluster>-pilot`, see `operator.builders.meta.pilot_account_name`)
is admitted only when its token is bound to a Pod (the API server then puts
the pod's name in the user's extra `authentication.kubernetes.io/pod-name`)
and that pod is the member the Pilot is named after, in the same namespace.

Everybody else (the operator, admins, controllers) is left alone: the policy's
match condition selects the pilots' accounts only.

Generated into `deploy/crds/` by `crdgen` (cluster-scoped, so it ships with
the CRDs: every install path that applies `deploy/crds` installs it too).
"""

from __future__ import annotations

from typing import Any

from navigator.api.common import GROUP
from navigator.api.pilot import PLURAL

NAME = "navigator-pilot-writes-own-pilot"
# The name users see in the refusal (like status.blockedBy.rule).
RULE = "PilotWritesOnlyItsOwnPilot"
FILE = f"{GROUP}_{PLURAL}-admission.yaml"
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
# Every pilot's ServiceAccount is `<cluster>-pilot` (pilot_account_name).
ACCOUNT_SUFFIX = "-pilot"
# What a pilot's token authenticates as (RE2 and Python `re` read it alike).
ACCOUNT_PATTERN = f"^system:serviceaccount:[^:]+:[^:]+{ACCOUNT_SUFFIX}$"

API = "admissionregistration.k8s.io/v1"

# CEL strings in double quotes: the YAML stays readable.
_EXTRA = f'request.userInfo.extra["{POD_NAME_EXTRA}"]'
_POD_NAME = (
    f'has(request.userInfo.extra) && "{POD_NAME_EXTRA}" in request.userInfo.extra'
    f' && size({_EXTRA}) == 1 ? {_EXTRA}[0] : ""'
)


def policy() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "navigator"}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": ["*"],
                        "resources": [PLURAL, f"{PLURAL}/status"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                    }
                ]
            },
            "matchConditions": [
                {
                    "name": "pilot-service-account",
                    "expression": f'request.userInfo.username.matches("{ACCOUNT_PATTERN}")',
                }
            ],
            "variables": [
                # The pod the token is bound to; '' for a token bound to none.
                {"name": "podName", "expression": _POD_NAME},
                # system:serviceaccount:<namespace>:<name>
                {
                    "name": "accountNamespace",
                    "expression": 'request.userInfo.username.split(":")[2]',
                },
            ],
            "validations": [
                {
                    "expression": 'variables.podName != ""',
                    "messageExpression": (
                        f'"{RULE}: " + request.userInfo.username'
                        ' + " presented a token that is not bound to a pod"'
                    ),
                    "reason": "Forbidden",
                },
                {
                    # (A token bound to no pod is refused by the rule above.)
                    "expression": (
                        'variables.podName == "" || (variables.podName == request.name'
                        " && variables.accountNamespace == request.namespace)"
                    ),
                    "messageExpression": (
                        f'"{RULE}: the pilot of pod " + variables.accountNamespace + "/"'
                        ' + variables.podName + " may write only its own Pilot, not "'
                        ' + request.namespace + "/" + request.name'
                    ),
                    "reason": "Forbidden",
                },
            ],
        },
    }


def binding() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "navigator"}},
        "spec": {"policyName": NAME, "validationActions": ["Deny"]},
    }


def manifests() -> list[dict[str, Any]]:
    return [policy(), binding()]
