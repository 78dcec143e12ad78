"""The revision of a pool's pod template: what a member must run.

Every input of a member's pod that matters (image and version, rendered
configuration, JVM options, resources, environment, restart requests) is in
the pod template, so a hash of the template is the revision. It is computed
by the operator from what it builds, never from what the API server returns,
so it is the same for the same spec whatever the API server adds, and the
same after the operator itself is redeployed unless the pod it builds really
changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

REVISION_ANNOTATION = "navigator.dev/revision"
# On the CassandraCluster: a new value (any string; `navigator restart` writes
# the time) asks for a rolling restart of every member. Copied to the pod
# template, so it is part of the revision.
RESTARTED_AT_ANNOTATION = "navigator.dev/restartedAt"
# On a member's Pod: a user asks for that member's replacement (not part of
# any revision: the pod carries it only until the operator deletes it).
REPLACE_ANNOTATION = "navigator.dev/replace"
# On the pod template: the database version it runs (tells an upgrade apart
# from a config change or a restart).
VERSION_ANNOTATION = "navigator.dev/version"
REVISION_CHARS = 16


def revision_of(template: dict[str, Any]) -> str:
    """A short, stable hash of a pod template (keys sorted; the revision
    annotation itself excluded, so stamping it does not change the hash)."""
    meta = dict(template.get("metadata") or {})
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != REVISION_ANNOTATION
    }
    meta["annotations"] = annotations
    canonical = json.dumps(
        {**template, "metadata": meta}, sort_keys=True, separators=(",", ":")
    ).encode()
    return hashlib.sha256(canonical).hexdigest()[:REVISION_CHARS]


def stamped(template: dict[str, Any]) -> dict[str, Any]:
    """The template with its revision in the `navigator.dev/revision` annotation."""
    meta = dict(template.get("metadata") or {})
    annotations = {**(meta.get("annotations") or {}), REVISION_ANNOTATION: revision_of(template)}
    return {**template, "metadata": {**meta, "annotations": annotations}}
