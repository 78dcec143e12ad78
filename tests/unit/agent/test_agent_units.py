"""Pure parts of the node agent: node and pod status builders, env, files, back-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from navigator.local.agent import fleet, node, provisioner, server, shim
from navigator.local.agent.config import AgentConfig, NodeResources
from navigator.local.agent.env import command_line, expand, resource_value
from navigator.local.agent.pods import Backoff, grace_period, hosts_file, resolv_conf
from navigator.local.agent.status import ContainerState, PodRuntime, Terminated, phase, pod_status
from navigator.local.agent.volumes import field_value
from navigator.local.controlplane import ClusterConfig
from navigator.local.images import Image, ImageConfig

pytestmark = pytest.mark.unit


def cluster_config(tmp_path: Path) -> ClusterConfig:
    return ClusterConfig(state_dir=tmp_path, host_ip="10.250.255.254", pod_cidr="10.250.0.0/16")


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-0", "namespace": "ns1", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {"nodeName": "local-node-1", "containers": [{"name": "c", "image": "i"}], **spec},
        "status": {"podIP": "10.250.0.5"},
    }


def test_nodes_get_their_own_address_zone_and_identity(tmp_path: Path) -> None:
    cfg = cluster_config(tmp_path)
    nodes = fleet.NodeSet(count=4, zones=("a", "b"))
    agents = fleet.agent_configs(cfg, nodes)
    assert [a.node_name for a in agents] == [f"local-node-{i}" for i in range(1, 5)]
    assert [a.node_ip for a in agents] == [f"10.250.255.{253 - i}" for i in range(4)]
    assert [a.zone for a in agents] == ["a", "b", "a", "b"]
    specs = {s.name: s for s in fleet.certificate_specs(cfg, nodes)}
    client = specs["local-node-2-client"]
    assert client.common_name == "system:node:local-node-2"
    assert client.organizations == ("system:nodes",)
    assert specs["local-node-2-serving"].ip_addresses == ("10.250.255.252",)


def test_agent_config_round_trips_through_json(tmp_path: Path) -> None:
    agent = fleet.agent_configs(cluster_config(tmp_path), fleet.NodeSet(count=1))[0]
    assert AgentConfig.from_json(agent.to_json()) == agent
    nodes = fleet.NodeSet(count=2, zones=("x",), resources=NodeResources(cpu="2"))
    assert fleet.NodeSet.from_json(nodes.to_json()) == nodes


def test_node_object_carries_labels_capacity_and_kubelet_endpoint(tmp_path: Path) -> None:
    agent = fleet.agent_configs(cluster_config(tmp_path), fleet.NodeSet(count=1))[0]
    obj = node.node_object(agent)
    assert obj["metadata"]["labels"][node.ZONE_LABEL] == "zone-a"
    assert obj["metadata"]["labels"]["kubernetes.io/hostname"] == "local-node-1"
    assert obj["status"]["capacity"]["pods"] == "110"
    assert obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    ready = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "False"  # Ready once the Lease and pod CIDR exist


def test_a_lease_left_by_an_earlier_node_object_is_taken_over(tmp_path: Path) -> None:
    agent = fleet.agent_configs(cluster_config(tmp_path), fleet.NodeSet(count=1))[0]
    old = node.lease_object(agent, "old-uid")
    old["spec"]["renewTime"] = "2020-01-01T00:00:00.000000Z"
    old["metadata"]["resourceVersion"] = "7"
    new = node.renewed_lease(old, agent, "new-uid")
    assert [r["uid"] for r in new["metadata"]["ownerReferences"]] == ["new-uid"]
    assert new["metadata"]["resourceVersion"] == "7"
    assert new["spec"]["renewTime"] != "2020-01-01T00:00:00.000000Z"
    assert new["spec"]["holderIdentity"] == "local-node-1"
    assert old["metadata"]["ownerReferences"][0]["uid"] == "old-uid"  # not modified


def test_condition_transition_time_only_moves_on_change() -> None:
    old = [node.ready_condition(True, now="2020-01-01T00:00:00Z")]
    same = node._keep_transition([node.ready_condition(True, now="2021-01-01T00:00:00Z")], old)
    assert same[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    flipped = node._keep_transition([node.ready_condition(False, now="2021-01-01T00:00:00Z")], old)
    assert flipped[0]["lastTransitionTime"] == "2021-01-01T00:00:00Z"


def running(name: str, ready: bool = True) -> ContainerState:
    return ContainerState(name, "i", waiting=False, running_since="t", ready=ready, started=True)


def exited(name: str, code: int) -> ContainerState:
    term = Terminated(code, "Completed" if code == 0 else "Error", "t0", "t1")
    return ContainerState(name, "i", waiting=False, terminated=term)


@pytest.mark.parametrize(
    ("app", "policy", "expected"),
    [
        ([ContainerState("c", "i")], "Always", "Pending"),
        ([running("c")], "Always", "Running"),
        ([exited("c", 0)], "Never", "Succeeded"),
        ([exited("c", 1)], "Never", "Failed"),
        ([exited("c", 0)], "OnFailure", "Succeeded"),
        ([exited("c", 1), running("d")], "Never", "Running"),
    ],
)
def test_phase_follows_the_kubelet(app: list[ContainerState], policy: str, expected: str) -> None:
    rt = PodRuntime(pod_ip="10.0.0.2", host_ip="10.0.255.1", start_time="t", app=app)
    assert phase(rt, policy) == expected


def test_pending_until_init_containers_succeed() -> None:
    rt = PodRuntime(None, "h", None, init=[running("init")], app=[ContainerState("c", "i")])
    assert phase(rt, "Always") == "Pending"
    rt.init = [exited("init", 0)]
    rt.app = [running("c")]
    assert phase(rt, "Always") == "Running"
    rt.init = [exited("init", 1)]
    assert phase(rt, "Never") == "Failed"


def test_pod_status_has_conditions_addresses_and_container_statuses() -> None:
    rt = PodRuntime(
        "10.250.0.5", "10.250.255.253", "t", app=[running("c", ready=False)], sandbox_ready=True
    )
    status = pod_status(pod(), rt, "now")
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "False",
        "ContainersReady": "False",
        "PodScheduled": "True",
    }
    assert status["podIP"] == "10.250.0.5"
    assert status["podIPs"] == [{"ip": "10.250.0.5"}]
    assert status["hostIP"] == "10.250.255.253"
    assert status["containerStatuses"][0]["state"] == {"running": {"startedAt": "t"}}
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [c]"
    rt.app = [running("c")]
    ready = next(c for c in pod_status(pod(), rt, "now")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", None, None)


def test_crash_looping_container_reports_back_off_and_last_state() -> None:
    st = exited("c", 3)
    st.last_terminated, st.restart_count = st.terminated, 2
    st.waiting, st.waiting_reason, st.waiting_message = True, "CrashLoopBackOff", "back-off 20s"
    out = st.to_json()
    assert out["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert out["lastState"]["terminated"]["exitCode"] == 3
    assert out["restartCount"] == 2


def test_backoff_is_immediate_then_doubles_up_to_the_cap() -> None:
    b = Backoff(initial=10, cap=40)
    assert [b.next("k") for _ in range(5)] == [0, 10, 20, 40, 40]
    b.reset("k")
    assert b.next("k") == 0


def test_command_line_follows_kubernetes_rules() -> None:
    image = Image("x", Path("/l"), ImageConfig(entrypoint=("ep",), cmd=("c1",)))
    assert command_line({}, image) == ["ep", "c1"]
    assert command_line({"args": ["a"]}, image) == ["ep", "a"]
    assert command_line({"command": ["cmd"]}, image) == ["cmd"]
    assert command_line({"command": ["cmd"], "args": ["a"]}, image) == ["cmd", "a"]


def test_variable_expansion() -> None:
    env = {"A": "1"}
    assert expand("x$(A)y", env) == "x1y"
    assert expand("$(B)", env) == "$(B)"
    assert expand("$$(A)", env) == "$(A)"


def test_resource_field_ref_uses_limits_or_node_capacity() -> None:
    ctr = {"resources": {"limits": {"memory": "512Mi"}}}
    assert resource_value(ctr, "limits.memory", "1Mi", {}) == "512"
    assert resource_value({}, "limits.cpu", None, {"cpu": "4"}) == "4"


def test_downward_api_fields() -> None:
    p = pod()
    assert field_value(p, "metadata.name") == "web-0"
    assert field_value(p, "status.podIP") == "10.250.0.5"
    assert field_value(p, "metadata.labels['app']") == "web"
    assert field_value(p, "spec.nodeName") == "local-node-1"


def test_hosts_and_resolv_conf_for_a_statefulset_pod() -> None:
    p = pod(hostname="web-0", subdomain="web")
    hosts = hosts_file(p, "10.250.0.5", "cluster.local")
    assert "10.250.0.5\tweb-0.web.ns1.svc.cluster.local\tweb-0" in hosts
    resolv = resolv_conf(p, "10.250.255.254", "cluster.local")
    assert "search ns1.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "nameserver 10.250.255.254" in resolv


def test_grace_period_prefers_the_deletion_grace_period() -> None:
    p = pod(terminationGracePeriodSeconds=7)
    assert grace_period(p) == 7
    p["metadata"]["deletionGracePeriodSeconds"] = 3
    assert grace_period(p) == 3


def test_container_paths_resolve_symlinks_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")
    assert shim.in_root(str(root), "/var/run/secrets") == str(root / "run" / "secrets")
    assert shim.in_root(str(root), "/../etc") == str(root / "etc")


def test_log_tail_and_client_identity() -> None:
    assert server.tail(b"a\nb\nc\n", 2, None) == b"b\nc\n"
    assert server.tail(b"abc", None, 2) == b"ab"
    apiserver = {"subject": ((("commonName", "kube-apiserver-kubelet-client"),),)}
    other = {"subject": ((("commonName", "system:node:x"),),)}
    assert server.allowed(apiserver)
    assert not server.allowed(other)


def test_provisioner_builds_a_node_local_volume_for_claims_on_its_node(tmp_path: Path) -> None:
    classes = {"local": {"metadata": {"name": "local"}, "provisioner": provisioner.PROVISIONER}}
    claim = {
        "metadata": {
            "name": "data-web-0",
            "namespace": "ns1",
            "uid": "c-1",
            "annotations": {provisioner.SELECTED_NODE: "local-node-2"},
        },
        "spec": {"storageClassName": "local", "resources": {"requests": {"storage": "1Gi"}}},
    }
    assert provisioner.wants_volume(claim, "local-node-2", classes)
    assert not provisioner.wants_volume(claim, "local-node-1", classes)
    pv = provisioner.volume_for(claim, classes["local"], "local-node-2", tmp_path / "v")
    assert pv["metadata"]["name"] == "pvc-c-1"
    assert pv["spec"]["claimRef"]["uid"] == "c-1"
    assert pv["spec"]["local"]["path"] == str(tmp_path / "v")
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ["local-node-2"]


def test_pod_addresses_are_handed_out_round_robin(tmp_path: Path) -> None:
    from navigator.local.agent.netns import AddressPool

    pool = AddressPool("10.250.3.0/29", tmp_path)
    assert [pool.allocate(o) for o in ("a", "b")] == ["10.250.3.2", "10.250.3.3"]
    assert pool.allocate("a") == "10.250.3.2"
    pool.release("a")
    assert pool.allocate("c") == "10.250.3.4"
    assert [pool.allocate(o) for o in ("d", "e")] == ["10.250.3.5", "10.250.3.6"]
    assert pool.allocate("f") == "10.250.3.2"  # wraps around to the freed address


def test_a_pod_keeps_the_address_in_its_status(tmp_path: Path) -> None:
    """After the agent lost its leases (local down/up) a pod that already has an
    IP gets it back: the API server refuses to change a pod's IPs."""
    from navigator.local.agent.netns import AddressPool

    pool = AddressPool("10.250.3.0/29", tmp_path)
    assert pool.allocate("a", preferred="10.250.3.5") == "10.250.3.5"
    assert pool.allocate("a", preferred="10.250.3.6") == "10.250.3.5"  # its lease wins
    assert pool.allocate("b", preferred="10.250.3.5") == "10.250.3.2"  # taken: next free
    assert pool.allocate("c", preferred="10.9.9.9") == "10.250.3.3"  # not this node's
    assert pool.allocate("d", preferred="10.250.3.1") == "10.250.3.4"  # the gateway's


def test_limits_become_cgroup_settings() -> None:
    from navigator.local.agent.cgroups import ContainerGroup, limits_of

    limits = limits_of({"resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}})
    assert limits.memory_bytes == 64 * 2**20
    assert limits.cpu_quota_us == 50_000
    assert not limits_of({}).any
    group = ContainerGroup("navigator-x-local-node-1-u-c", limits)
    assert [d.parts[-3:] for d in group.dirs()] == [
        ("memory", "navigator", "navigator-x-local-node-1-u-c"),
        ("cpu", "navigator", "navigator-x-local-node-1-u-c"),
    ]
