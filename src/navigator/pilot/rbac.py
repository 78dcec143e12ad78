"""The least privilege a pilot needs, as Role rules (the operator applies them).

Read: its cluster (config overrides), Pods (seed addresses), its Pilot (intents).
Write: Pilot status (facts and outcomes) and Events. Nothing else.
"""

from __future__ import annotations

from typing import Any

PILOT_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["navigator.dev"], "resources": ["cassandraclusters"], "verbs": ["get"]},
    {"apiGroups": ["navigator.dev"], "resources": ["pilots"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["navigator.dev"], "resources": ["pilots/status"], "verbs": ["patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]


def pilot_role(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": PILOT_RULES,
    }
