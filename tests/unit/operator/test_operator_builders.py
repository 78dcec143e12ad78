"""Builders: golden YAML snapshots of every owned object, plus the properties
that matter for safety. Regenerate the snapshots after an intended change with
`NAVIGATOR_UPDATE_SNAPSHOTS=1 uv run pytest tests/unit/operator`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra.builders import (
    build_cluster_objects,
    build_pilot,
    build_statefulset,
)
from navigator.operator.cassandra.builders.meta import founder, member_name
from navigator.operator.cassandra.builders.statefulset import heap_mib, pool_revision
from navigator.operator.core.revision import (
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    revision_of,
)
from navigator.pilot.rbac import PILOT_RULES

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parents[3] / "deploy" / "examples"
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("NAVIGATOR_UPDATE_SNAPSHOTS") == "1"


def example(name: str) -> CassandraCluster:
    obj = yaml.safe_load((EXAMPLES / name).read_text())
    obj["metadata"].update(namespace="db", uid="0000-uid")
    return CassandraCluster.model_validate(obj)


def all_objects(cluster: CassandraCluster) -> list[dict[str, Any]]:
    out = build_cluster_objects(cluster)
    for pool in cluster.spec.node_pools:
        out.append(build_statefulset(cluster, pool, replicas=pool.replicas))
        out += [build_pilot(cluster, pool, member_name(cluster, pool, i)) for i in range(2)]
    return out


@pytest.mark.parametrize("name", ["cassandra-3-nodes.yaml", "cassandra-multi-rack.yaml"])
def test_snapshot(name: str) -> None:
    text = yaml.safe_dump_all(all_objects(example(name)), sort_keys=True)
    golden = SNAPSHOTS / name
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: create it with NAVIGATOR_UPDATE_SNAPSHOTS=1"
    assert text == golden.read_text(), "snapshot changed: rerun with NAVIGATOR_UPDATE_SNAPSHOTS=1"


def test_database_pods_run_as_a_fixed_non_root_user_without_privileges() -> None:
    """Pod Security Standards `restricted`: non-root (the official image's
    cassandra user), the data volume's group, no capabilities, no privilege
    escalation, the runtime's seccomp profile."""
    cluster = example("cassandra-multi-rack.yaml")
    for pool in cluster.spec.node_pools:
        pod = build_statefulset(cluster, pool, replicas=1)["spec"]["template"]["spec"]
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 999,
            "runAsGroup": 999,
            "fsGroup": 999,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        (c,) = pod["containers"]
        assert c["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
        assert "privileged" not in c["securityContext"]
        # The data volume is the one the fsGroup makes writable.
        assert c["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/cassandra"}]


def test_every_object_is_owned_and_labelled() -> None:
    cluster = example("cassandra-multi-rack.yaml")
    for obj in all_objects(cluster):
        meta = obj["metadata"]
        assert meta["ownerReferences"][0]["uid"] == "0000-uid"
        assert meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "navigator"
        assert meta["labels"]["navigator.dev/cluster"] == "multi-rack"


def test_statefulset_runs_the_pilot_with_its_contract() -> None:
    cluster = example("cassandra-multi-rack.yaml")
    pool = cluster.spec.node_pools[1]
    sts = build_statefulset(cluster, pool, replicas=1)
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert c["command"] == ["navigator", "pilot", "cassandra"]
    assert c["image"] == "navigator-cassandra:5.0.6"
    assert env["NAVIGATOR_RACK"] == "b"
    assert env["NAVIGATOR_DATACENTER"] == "eu-west"
    # Seeds are not in the pod template: the pilot picks joined members at start.
    assert "NAVIGATOR_SEEDS" not in env
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz/started"
    assert {p["containerPort"] for p in c["ports"]} == {9042, 7000, 8080}
    assert sts["spec"]["replicas"] == 1
    # The operator, not the StatefulSet controller, decides which pod restarts.
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    assert pod["nodeSelector"] == {"topology.kubernetes.io/zone": "zone-b"}
    assert pod["serviceAccountName"] == "multi-rack-pilot"


def test_image_override() -> None:
    cluster = example("cassandra-3-nodes.yaml")
    cluster = cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"image": "x:1"})})
    sts = build_statefulset(cluster, cluster.spec.node_pools[0], replicas=3)
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "x:1"


def test_the_founder_is_the_first_member_of_the_first_pool_with_members() -> None:
    obj = yaml.safe_load((EXAMPLES / "cassandra-multi-rack.yaml").read_text())
    obj["metadata"]["namespace"] = "db"
    assert founder(CassandraCluster.model_validate(obj)) == "multi-rack-zone-a-0"
    obj["spec"]["nodePools"][0]["replicas"] = 0
    obj["spec"]["nodePools"].append({"name": "other", "datacenter": "us", "replicas": 1})
    assert founder(CassandraCluster.model_validate(obj)) == "multi-rack-zone-b-0"


def test_role_is_the_pilot_rules() -> None:
    objs = {o["kind"]: o for o in build_cluster_objects(example("cassandra-3-nodes.yaml"))}
    assert objs["Role"]["rules"] == PILOT_RULES
    assert objs["RoleBinding"]["subjects"][0]["name"] == objs["ServiceAccount"]["metadata"]["name"]
    assert objs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("resources", "heap"),
    [
        (None, 512),
        ({"limits": {"memory": "1Gi"}}, 512),
        ({"requests": {"memory": "4G"}}, 1907),
        ({"limits": {"memory": "100Mi"}}, 256),
        ({"limits": {"memory": "64Gi"}}, 8192),
    ],
)
def test_heap(resources: dict[str, Any] | None, heap: int) -> None:
    assert heap_mib(resources) == heap


def test_pilot_lists_its_intents() -> None:
    cluster = example("cassandra-3-nodes.yaml")
    pilot = build_pilot(
        cluster, cluster.spec.node_pools[0], "demo-rack1-2", decommission_ids=["d1"]
    )
    assert pilot["metadata"]["name"] == "demo-rack1-2"
    assert pilot["spec"] == {"cluster": "demo", "intents": [{"id": "d1", "action": "Decommission"}]}


def test_members_prefer_distinct_nodes_unless_the_pool_says_otherwise() -> None:
    """Losing one node must cost one replica, not a quorum: by default every
    member of the cluster (any pool) prefers a node without another one."""
    from navigator.api.cassandra import CassandraCluster
    from navigator.operator.cassandra.builders.statefulset import pod_spec

    def cluster(**pool: Any) -> CassandraCluster:
        return CassandraCluster.model_validate(
            {
                "apiVersion": "navigator.dev/v1alpha1",
                "kind": "CassandraCluster",
                "metadata": {"name": "c", "namespace": "ns"},
                "spec": {"version": "5.0.6", "nodePools": [{"name": "a", "replicas": 3, **pool}]},
            }
        )

    c = cluster()
    terms = pod_spec(c, c.spec.node_pools[0])["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms[0]["podAffinityTerm"] == {
        "topologyKey": "kubernetes.io/hostname",
        "labelSelector": {"matchLabels": {"navigator.dev/cluster": "c"}},
    }
    off = cluster(affinity={})
    assert "affinity" not in pod_spec(off, off.spec.node_pools[0])
    own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}
    mine = cluster(affinity=own)
    assert pod_spec(mine, mine.spec.node_pools[0])["affinity"] == own


def _revision(cluster: CassandraCluster, **spec: Any) -> str:
    changed = cluster.model_copy(update={"spec": cluster.spec.model_copy(update=spec)})
    return pool_revision(changed, changed.spec.node_pools[0])


def test_every_pod_input_changes_the_revision() -> None:
    """Version, config, JVM options, resources and a restart request each
    give a new revision; the same spec gives the same one."""
    cluster = example("cassandra-3-nodes.yaml")
    pool = cluster.spec.node_pools[0]
    base = pool_revision(cluster, pool)
    assert base == pool_revision(example("cassandra-3-nodes.yaml"), pool)
    config = cluster.spec.config
    resources = pool.model_copy(update={"resources": {"limits": {"memory": "2Gi"}}})
    restarted = cluster.model_copy(
        update={"metadata": {**cluster.metadata, "annotations": {RESTARTED_AT_ANNOTATION: "t1"}}}
    )
    others = [
        _revision(cluster, version="5.0.8"),
        _revision(
            cluster,
            config=config.model_copy(update={"cassandra_yaml": {"concurrent_reads": 64}}),
        ),
        _revision(cluster, config=config.model_copy(update={"jvm_options": ["-XX:+UseG1GC"]})),
        _revision(cluster, node_pools=[resources, *cluster.spec.node_pools[1:]]),
        pool_revision(restarted, pool),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


def test_revision_is_stamped_and_read_by_the_pilot() -> None:
    cluster = example("cassandra-3-nodes.yaml")
    pool = cluster.spec.node_pools[0]
    template = build_statefulset(cluster, pool, replicas=3)["spec"]["template"]
    assert template["metadata"]["annotations"][REVISION_ANNOTATION] == pool_revision(cluster, pool)
    assert revision_of(template) == pool_revision(cluster, pool)  # stamping does not move it
    env = {e["name"]: e for e in template["spec"]["containers"][0]["env"]}
    assert env["NAVIGATOR_REVISION"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        f"metadata.annotations['{REVISION_ANNOTATION}']"
    )
    assert env["POD_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
    assert json.loads(env["NAVIGATOR_CONFIG"]["value"]) == {
        "cassandraYaml": {},
        "jvmOptions": [],
        "auth": True,
    }
