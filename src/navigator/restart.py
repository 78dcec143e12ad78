"""`navigator restart`: ask the operator for a rolling restart of a CassandraCluster.

The request is one annotation on the cluster, `navigator.dev/restartedAt`, set
to the current time; it is exactly what this kubectl command does:

    kubectl annotate cass NAME navigator.dev/restartedAt="$(date -u +%FT%TZ)" --overwrite

The operator copies the annotation into every pool's pod template; a new
template is a new revision, so every member restarts once, one at a time,
behind the same safety gates as an upgrade. The command writes the annotation
(a JSON merge patch, nothing else) and returns; `navigator status NAME -w`
follows the rollout. Exit codes as `navigator status` (see `status.kubeapi`):
0 requested, 1 the cluster does not exist, 2 the API could not be used.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

import click
from lightkube import Client
from lightkube.types import PatchType

from navigator.operator.core.kube import CassandraClusterResource, to_dict
from navigator.operator.core.revision import RESTARTED_AT_ANNOTATION
from navigator.status.kubeapi import (
    api_errors,
    connect,
    kubeconfig_option,
    kubeconfig_path,
    namespace_option,
)

# Who set the annotation, as the object's managedFields tell it.
FIELD_MANAGER = "navigator-restart"


def utc_now() -> datetime:
    return datetime.now(UTC)


def requested_at(now: datetime) -> str:
    """RFC 3339 in UTC, to the second: what `date -u +%FT%TZ` prints."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart_patch(value: str) -> dict[str, Any]:
    """The merge patch that sets the annotation and touches nothing else."""
    return {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: value}}}


def request_restart(client: Client, name: str, namespace: str, value: str) -> dict[str, Any]:
    """Set the annotation; the cluster as the API server stored it."""
    patched = client.patch(
        CassandraClusterResource,
        name,
        restart_patch(value),
        namespace=namespace,
        patch_type=PatchType.MERGE,
        field_manager=FIELD_MANAGER,
    )
    return to_dict(patched)


def follow_command(name: str, namespace: str, kubeconfig: str | None) -> str:
    """The `navigator status` command that shows the restart as it goes."""
    args = ["navigator", "status", name, "-n", namespace, "-w"]
    args += ["--kubeconfig", kubeconfig] if kubeconfig else []
    return shlex.join(args)


def report(cluster: dict[str, Any], value: str, follow: str) -> list[str]:
    """What was done and how to follow it, with what may hold the restart."""
    meta, spec = cluster.get("metadata") or {}, cluster.get("spec") or {}
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    lines = [
        f"Rolling restart of CassandraCluster {where} requested"
        f" ({RESTARTED_AT_ANNOTATION}={value}).",
        "The operator restarts one member at a time, each only when the cluster is healthy.",
    ]
    rollout = (cluster.get("status") or {}).get("rollout")
    if isinstance(rollout, dict):
        kind = f" ({rollout['type']})" if isinstance(rollout.get("type"), str) else ""
        lines.append(
            f"A rollout was in progress{kind}: every member, even one it already restarted,"
            " restarts once more onto the new revision."
        )
    if spec.get("paused") is True:
        lines.append("spec.paused is true: nothing restarts until the cluster is unpaused.")
    lines.append(f"Follow it with: {follow}")
    return lines


@click.command("restart")
@click.argument("cluster")
@namespace_option
@kubeconfig_option
def restart(cluster: str, namespace: str | None, kubeconfig: str | None) -> None:
    """Ask for a rolling restart of CLUSTER: every member restarts once, one
    at a time, each when the cluster is healthy. Sets the annotation
    navigator.dev/restartedAt to the current UTC time, as

    \b
        kubectl annotate cass CLUSTER navigator.dev/restartedAt="$(date -u +%FT%TZ)" --overwrite

    would, and returns; `navigator status CLUSTER -w` follows the rollout.

    Exits 1 when the cluster does not exist, 2 when the API cannot be used.
    """
    client, config = connect(kubeconfig_path(kubeconfig))
    namespace = namespace or config.namespace
    value = requested_at(utc_now())
    with api_errors(str(config.cluster.server), namespace=namespace, name=cluster):
        patched = request_restart(client, cluster, namespace, value)
    for line in report(patched, value, follow_command(cluster, namespace, kubeconfig)):
        click.echo(line)
