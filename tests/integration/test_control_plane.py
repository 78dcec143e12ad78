"""The local control plane is a real, production-configured Kubernetes."""

from __future__ import annotations

import json
import subprocess

import pytest
from lightkube import Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import ConfigMap, Pod, ServiceAccount

from navigator.testing.members import eventually
from navigator.testing.pytest_plugin import LocalCluster
from navigator.versions import pinned

pytestmark = pytest.mark.integration


def test_server_and_client_report_the_pinned_version(local_cluster: LocalCluster) -> None:
    out = json.loads(local_cluster.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == pinned().kubernetes
    assert out["clientVersion"]["gitVersion"] == pinned().kubernetes
    assert out["serverVersion"]["gitTreeState"] == "clean"


def test_readyz_is_ok(local_cluster: LocalCluster) -> None:
    assert local_cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_new_namespace_gets_its_default_service_account(kube: Client, namespace: str) -> None:
    # The service-account controller of kube-controller-manager creates it.
    eventually(lambda: [sa.metadata.name for sa in kube.list(ServiceAccount, namespace=namespace)])
    sa = kube.get(ServiceAccount, "default", namespace=namespace)
    assert sa.metadata is not None


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.navigator.dev}
spec:
  group: example.navigator.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
"""


def test_custom_resource_definition_is_served_and_validated(
    local_cluster: LocalCluster, namespace: str
) -> None:
    local_cluster.kubectl("apply", "-f", "-", input=CRD)
    local_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/widgets.example.navigator.dev", "--timeout=30s"
    )
    good = (
        "apiVersion: example.navigator.dev/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n"
    )
    local_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=good)
    got = json.loads(
        local_cluster.kubectl("get", "widget", "w", "-n", namespace, "-o", "json").stdout
    )
    assert got["spec"] == {"size": 3}
    bad = good.replace("size: 3", "size: 0")
    rejected = local_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=bad.replace("name: w", "name: w2"), check=False
    )
    assert rejected.returncode != 0
    assert "spec.size" in rejected.stderr


def test_deployment_controller_and_scheduler_act(kube: Client, namespace: str) -> None:
    labels = {"app": "web"}
    kube.create(
        Deployment(
            metadata=ObjectMeta(name="web", namespace=namespace),
            spec=DeploymentSpec(
                replicas=2,
                selector=LabelSelector(matchLabels=labels),
                template=PodTemplateSpec(
                    metadata=ObjectMeta(labels=labels),
                    spec=PodSpec(containers=[Container(name="web", image="busybox")]),
                ),
            ),
        )
    )
    eventually(lambda: list(kube.list(ReplicaSet, namespace=namespace)))
    pods = eventually(
        lambda: (p := list(kube.list(Pod, namespace=namespace))) and len(p) == 2 and p
    )

    # No nodes yet (the node agent is separate): the scheduler reports why.
    def unschedulable() -> bool:
        for pod in kube.list(Pod, namespace=namespace):
            conds = (pod.status and pod.status.conditions) or []
            if not any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in conds):
                return False
        return True

    eventually(unschedulable)
    assert len(pods) == 2


def test_garbage_collector_deletes_dependents_of_a_deleted_owner(
    kube: Client, namespace: str
) -> None:
    owner = kube.create(ConfigMap(metadata=ObjectMeta(name="owner", namespace=namespace)))
    assert owner.metadata is not None
    assert owner.metadata.uid is not None
    ref = OwnerReference(apiVersion="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    kube.create(
        ConfigMap(metadata=ObjectMeta(name="dependent", namespace=namespace, ownerReferences=[ref]))
    )
    kube.delete(ConfigMap, "owner", namespace=namespace)

    def dependent_gone() -> bool:
        return "dependent" not in [
            c.metadata.name for c in kube.list(ConfigMap, namespace=namespace) if c.metadata
        ]

    eventually(dependent_gone)


RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-reads-pods}
subjects: [{kind: ServiceAccount, name: reader}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
"""


def test_rbac_denies_what_a_role_does_not_allow(
    local_cluster: LocalCluster, namespace: str
) -> None:
    local_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=RBAC)
    who = f"--as=system:serviceaccount:{namespace}:reader"

    def can(verb: str, resource: str) -> str:
        proc = local_cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, who, check=False
        )
        return proc.stdout.strip()

    assert can("list", "pods") == "yes"
    assert can("delete", "pods") == "no"
    assert can("get", "secrets") == "no"
    # A real token issued by the TokenRequest API is authenticated and authorized by RBAC.
    token = local_cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    as_token = [
        str(local_cluster.binaries.kubectl),
        "--kubeconfig=/dev/null",
        f"--server={local_cluster.config.server_url}",
        f"--certificate-authority={local_cluster.config.layout.pki / 'ca.crt'}",
        f"--token={token}",
        f"--namespace={namespace}",
    ]
    ok = subprocess.run([*as_token, "get", "pods"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    denied = subprocess.run(
        [*as_token, "get", "secrets"], capture_output=True, text=True, check=False
    )
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr
