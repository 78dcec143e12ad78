"""A member's volume lost for good: its node is gone (pure parts).

A node-local volume (a `local` PersistentVolume, or any PV whose required
node affinity pins it by `kubernetes.io/hostname`) lives and dies with its
node. When the member's pod cannot be scheduled and every node its volume is
pinned to no longer exists as a Node object, the data is gone for good: the
node was removed from the cluster (a NotReady node is merely down, and is
never treated so). The operator then deletes the member's claim and pod; the
member comes back on a new, empty volume elsewhere and replaces its old self
(`navigator.operator.cassandra.replace`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HOSTNAME = "kubernetes.io/hostname"


def pinned_nodes(pv: Mapping[str, Any]) -> list[str]:
    """The node names a PV's required node affinity allows (by hostname); []
    when it is not pinned that way (network storage follows its pod)."""
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")) or {}
    names: list[str] = []
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == HOSTNAME and expr.get("operator") == "In":
                names += [str(v) for v in expr.get("values") or []]
    return names


def lost_with(pv: Mapping[str, Any], existing: Mapping[str, bool]) -> str:
    """The gone node a PV was pinned to, when every node it allows is gone
    (`existing`: node name → whether a Node object exists); '' otherwise."""
    nodes = pinned_nodes(pv)
    if not nodes or any(existing.get(n, True) for n in nodes):
        return ""
    return nodes[0]
