"""Nodes: registration, labels, capacity, leases, and NotReady when an agent stops."""

from __future__ import annotations

import pytest
from agent_helpers import NODES, Agents, eventually

from navigator.local import processes

pytestmark = pytest.mark.integration


def test_nodes_register_with_zones_capacity_and_leases(agents: Agents) -> None:
    nodes = {n["metadata"]["name"]: n for n in agents.get("default", "nodes")["items"]}
    assert set(nodes) >= {"local-node-1", "local-node-2", "local-node-3"}
    zones = {nodes[f"local-node-{i}"]["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for i in (1, 2, 3)}  # fmt: skip
    assert zones == set(NODES.zones)
    for name in ("local-node-1", "local-node-2", "local-node-3"):
        node = nodes[name]
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
        assert node["spec"]["podCIDR"]
        assert node["status"]["allocatable"]["pods"] == str(NODES.resources.pods)
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"
        lease = agents.get("kube-node-lease", "lease", name)
        assert lease["spec"]["holderIdentity"] == name
    ips = {n["status"]["addresses"][0]["address"] for n in nodes.values()}
    assert len(ips) == len(nodes)


@pytest.mark.timeout(240)
def test_stopping_an_agent_turns_its_node_not_ready(agents: Agents) -> None:
    cfg = agents.cluster.config
    pidfile = cfg.layout.pidfile("agent-local-node-3")
    try:
        assert processes.stop(pidfile)

        def not_ready() -> bool:
            node = agents.get("default", "node", "local-node-3")
            ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
            return ready[0]["status"] != "True"

        eventually(not_ready, timeout=90)
    finally:
        agents.restart()
    node = agents.get("default", "node", "local-node-3")
    assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
