"""The StatefulSet of one node pool: identity, ordering and volumes.

The operator, not the StatefulSet controller, decides when a member is added,
removed or restarted: it raises or lowers `replicas` by one after its safety
rules pass, and the update strategy is `OnDelete`, so a changed pod template
restarts nobody until the operator deletes one member's pod (the rollout).
The template carries every input of the member's pod, including the
database configuration (in `NAVIGATOR_CONFIG`) and the operator's Cassandra
profile when it is not the default (`NAVIGATOR_CASSANDRA_PROFILE`, so a
production template carries none), and its revision (a hash of it) in the
`navigator.dev/revision` annotation.
So the pod management policy is `Parallel`: with `OrderedReady` one unready
member would stop the controller from recreating the others after an outage
(the start-sequence deadlock peers' users hit) and from deleting a member that
was already decommissioned (its readiness fails on purpose).
"""

from __future__ import annotations

import json
from typing import Any

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.cassandra.profile import DEFAULT, ENV, Profile
from navigator.operator.cassandra.builders.meta import (
    POOL_LABEL,
    Manifest,
    labels,
    metadata,
    name_of,
    pilot_account_name,
    pool_tls_secret_name,
    selector_labels,
    service_name,
    statefulset_name,
)
from navigator.operator.core import builders as core
from navigator.operator.core.builders import container_security_context
from navigator.operator.core.revision import (
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    VERSION_ANNOTATION,
    revision_of,
    stamped,
)
from navigator.quantity import quantity

IMAGE_REPOSITORY = "navigator-cassandra"
CONTAINER = "cassandra"
DATA_VOLUME = "data"
DATA_DIR = "/var/lib/cassandra"
# spec.tls: the pool's TLS Secret, read-only, for the pilot (docs/pilot.md).
TLS_VOLUME = "tls"
TLS_DIR = "/etc/navigator/tls"
PROBE_PORT = 8080
PORTS = {"cql": 9042, "intra-node": 7000, "probes": PROBE_PORT}
# The pilot drains for up to 60 s then gives Cassandra 30 s to stop: leave a margin.
TERMINATION_GRACE_SECONDS = 120
# A joining node streams its share of data before it reports started: allow 30 min.
# Probed every 2 s: a restarted member counts as serving (and a rollout moves
# on) within 2 s of its pilot saying so, not up to 15 s later.
STARTUP_PERIOD_SECONDS, STARTUP_FAILURES = 2, 900
READY_PERIOD_SECONDS, READY_FAILURES = 2, 5
DEFAULT_HEAP_MIB, MIN_HEAP_MIB, MAX_HEAP_MIB = 512, 256, 8192
# The database runs as the official image's `cassandra` user and group, which
# own its configuration and log directories; the data volume is given to the
# group (fsGroup). See docs/security.md, "Non-root pods".
CASSANDRA_UID = CASSANDRA_GID = 999


def image(cluster: CassandraCluster) -> str:
    """The database image; the pilot is baked into it (see design note 0005)."""
    return cluster.spec.image or f"{IMAGE_REPOSITORY}:{cluster.spec.version}"


def heap_mib(resources: dict[str, Any] | None) -> int:
    """Half the container's memory limit (or request), within bounds: the rest
    is for off-heap memory and the page cache."""
    res = resources or {}
    memory = (res.get("limits") or {}).get("memory") or (res.get("requests") or {}).get("memory")
    size = quantity(memory) if memory else None
    if size is None:
        return DEFAULT_HEAP_MIB
    mib = float(size) / 2**20
    return int(min(max(mib / 2, MIN_HEAP_MIB), MAX_HEAP_MIB))


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def config_json(cluster: CassandraCluster) -> str:
    """The user's configuration for the pilot, canonical JSON (a change of it
    is a change of the pod template, hence a rollout)."""
    config = cluster.spec.config
    body = {
        "cassandraYaml": config.cassandra_yaml,
        "jvmOptions": list(config.jvm_options),
        "auth": cluster.spec.auth.enabled,
    }
    tls = cluster.spec.tls
    if tls.enabled:  # only then: a cluster without TLS keeps its revision
        body["tls"] = {"client": tls.client_encryption, "internode": tls.internode_encryption}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def env(
    cluster: CassandraCluster, pool: CassandraNodePool, profile: Profile = DEFAULT
) -> list[dict[str, Any]]:
    """The pilot's environment contract (docs/pilot.md)."""
    out = [
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("POD_IP", "status.podIP"),
        _field_env("POD_UID", "metadata.uid"),
        _field_env("NAVIGATOR_REVISION", f"metadata.annotations['{REVISION_ANNOTATION}']"),
        {"name": "NAVIGATOR_CLUSTER", "value": name_of(cluster)},
        {"name": "NAVIGATOR_POOL", "value": pool.name},
        {"name": "NAVIGATOR_DATACENTER", "value": pool.datacenter},
        {"name": "NAVIGATOR_RACK", "value": pool.effective_rack},
        {"name": "NAVIGATOR_HEAP", "value": f"{heap_mib(pool.resources)}M"},
        {"name": "NAVIGATOR_CONFIG", "value": config_json(cluster)},
    ]
    if cluster.spec.tls.enabled:
        out.append({"name": "NAVIGATOR_TLS_DIR", "value": TLS_DIR})
    if profile != DEFAULT:
        out.append({"name": ENV, "value": profile.name})
    return out


def pod_security_context() -> dict[str, Any]:
    return core.pod_security_context(CASSANDRA_UID, CASSANDRA_GID)


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return core.http_probe(path, PROBE_PORT, period, failures)


def volume_mounts(cluster: CassandraCluster) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": DATA_VOLUME, "mountPath": DATA_DIR}]
    if cluster.spec.tls.enabled:
        mounts.append({"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True})
    return mounts


def tls_volume(cluster: CassandraCluster, pool: CassandraNodePool) -> dict[str, Any]:
    """Every member's key and certificate and the CA; each pod reads its own.
    Owner-only, group-readable by the pod's fsGroup (the database's group)."""
    return {
        "name": TLS_VOLUME,
        "secret": {"secretName": pool_tls_secret_name(cluster, pool), "defaultMode": 0o440},
    }


def container(
    cluster: CassandraCluster, pool: CassandraNodePool, profile: Profile = DEFAULT
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": CONTAINER,
        "image": image(cluster),
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "command": ["navigator", "pilot", "cassandra"],
        "env": env(cluster, pool, profile),
        "ports": [{"name": n, "containerPort": p} for n, p in PORTS.items()],
        "readinessProbe": _probe("/healthz/ready", READY_PERIOD_SECONDS, READY_FAILURES),
        "livenessProbe": _probe("/healthz/live", 10, 6),
        "startupProbe": _probe("/healthz/started", STARTUP_PERIOD_SECONDS, STARTUP_FAILURES),
        "volumeMounts": volume_mounts(cluster),
        "securityContext": container_security_context(),
    }
    if pool.resources:
        out["resources"] = pool.resources
    return out


def pod_labels(cluster: CassandraCluster, pool: CassandraNodePool) -> dict[str, str]:
    return labels(cluster, pool)


def pod_spec(
    cluster: CassandraCluster, pool: CassandraNodePool, profile: Profile = DEFAULT
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": pilot_account_name(cluster),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": pod_security_context(),
        "containers": [container(cluster, pool, profile)],
    }
    if cluster.spec.tls.enabled:
        spec["volumes"] = [tls_volume(cluster, pool)]
    spec.update(core.scheduling(pool, name_of(cluster)))
    return spec


def volume_claim_template(cluster: CassandraCluster, pool: CassandraNodePool) -> dict[str, Any]:
    return core.volume_claim_template(DATA_VOLUME, labels(cluster, pool), pool)


def template_annotations(cluster: CassandraCluster) -> dict[str, str]:
    """The version, and the user's latest restart request if any."""
    out = {VERSION_ANNOTATION: cluster.spec.version}
    requested = (cluster.metadata.get("annotations") or {}).get(RESTARTED_AT_ANNOTATION)
    if requested:
        out[RESTARTED_AT_ANNOTATION] = str(requested)
    return out


def pod_template(
    cluster: CassandraCluster, pool: CassandraNodePool, profile: Profile = DEFAULT
) -> dict[str, Any]:
    """The pool's pod template, stamped with its revision."""
    return stamped(
        {
            "metadata": {
                "labels": pod_labels(cluster, pool),
                "annotations": template_annotations(cluster),
            },
            "spec": pod_spec(cluster, pool, profile),
        }
    )


def pool_revision(
    cluster: CassandraCluster, pool: CassandraNodePool, profile: Profile = DEFAULT
) -> str:
    """The revision every member of `pool` should run (under the operator's
    `profile`, which is part of the template)."""
    return revision_of(pod_template(cluster, pool, profile))


def build_statefulset(
    cluster: CassandraCluster,
    pool: CassandraNodePool,
    *,
    replicas: int,
    profile: Profile = DEFAULT,
) -> Manifest:
    """The pool's StatefulSet with the `replicas` the operator decided (which
    may differ from the spec while a scale operation is in progress), for the
    operator's Cassandra `profile`."""
    return core.statefulset(
        metadata(cluster, statefulset_name(cluster, pool), pool),
        cluster.spec,
        replicas=replicas,
        service=service_name(cluster),
        selector={**selector_labels(cluster), POOL_LABEL: pool.name},
        template=pod_template(cluster, pool, profile),
        claim=volume_claim_template(cluster, pool),
    )
