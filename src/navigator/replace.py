"""`navigator replace`: ask the operator to replace a member that is down.

The request is one annotation on the member's Pod, exactly what this kubectl
command does:

    kubectl annotate pod MEMBER navigator.dev/replace=true

The operator acts on it only when every other member serves and every one
of them sees the member down (`ReplacedHostIsDown`): it deletes the member's
claim and pod, and the member comes back on a new, empty volume as the
replacement of its old self (same tokens, data streamed from the replicas).
The annotation goes with the pod, so the request is served once. A member
its peers see up is never wiped: the request then waits, with the rule in
status. Exit codes as `navigator status`: 0 requested, 1 the member does not
exist or is not a member of CLUSTER, 2 the API could not be used.
"""

from __future__ import annotations

from typing import Any

import click
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from navigator.operator.cassandra.builders.meta import CLUSTER_LABEL
from navigator.operator.core.kube import to_dict
from navigator.operator.core.revision import REPLACE_ANNOTATION
from navigator.restart import follow_command
from navigator.status.kubeapi import (
    NotFound,
    api_errors,
    connect,
    kubeconfig_option,
    kubeconfig_path,
    namespace_option,
)

FIELD_MANAGER = "navigator-replace"
REPLACE_PATCH = {"metadata": {"annotations": {REPLACE_ANNOTATION: "true"}}}


def member_of(pod: dict[str, Any], cluster: str) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(CLUSTER_LABEL) == cluster


def request_replace(client: Client, cluster: str, member: str, namespace: str) -> None:
    pod = to_dict(client.get(Pod, member, namespace=namespace))
    if not member_of(pod, cluster):
        raise NotFound(f"pod {namespace}/{member} is not a member of CassandraCluster {cluster}")
    client.patch(
        Pod,
        member,
        REPLACE_PATCH,
        namespace=namespace,
        patch_type=PatchType.MERGE,
        field_manager=FIELD_MANAGER,
    )


@click.command("replace")
@click.argument("cluster")
@click.argument("member")
@namespace_option
@kubeconfig_option
def replace(cluster: str, member: str, namespace: str | None, kubeconfig: str | None) -> None:
    """Ask for MEMBER of CLUSTER to be replaced: its data is given up and it
    comes back on a new volume as the replacement of its old self. Only a
    member every peer sees down is replaced. Sets the annotation
    navigator.dev/replace=true on the member's pod, as

    \b
        kubectl annotate pod MEMBER navigator.dev/replace=true

    would, and returns; `navigator status CLUSTER -w` follows it.

    Exits 1 when MEMBER is not a member of CLUSTER, 2 when the API cannot be used.
    """
    client, config = connect(kubeconfig_path(kubeconfig))
    namespace = namespace or config.namespace
    with api_errors(str(config.cluster.server), namespace=namespace, name=member):
        request_replace(client, cluster, member, namespace)
    click.echo(f"Replacement of {member} requested ({REPLACE_ANNOTATION}=true on its pod).")
    click.echo(
        "The operator replaces it only while every other member serves and sees it down;"
        " otherwise status says which rule it waits on."
    )
    click.echo(f"Follow it with: {follow_command(cluster, namespace, kubeconfig)}")
