"""`navigator local up/down/status` on a cluster of its own: idempotent, explained, clean."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
from pathlib import Path

import pytest

from navigator.local import cluster, network, processes
from navigator.local.controlplane import ClusterConfig, components
from navigator.local.paths import Binaries
from navigator.testing.pytest_plugin import LocalCluster, isolated_cluster_config, session_slot

pytestmark = pytest.mark.integration


def lifecycle_config(state_dir: Path) -> ClusterConfig:
    """A slot of its own: coexists with the demo cluster and the session's test cluster."""
    return isolated_cluster_config(state_dir, slot=session_slot() + 10)


def leftovers(cfg: ClusterConfig) -> list[str]:
    """Anything of this cluster still on the machine."""
    found = []
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    found += [line for line in ps.stdout.splitlines() if str(cfg.state_dir) in line]
    if network.netns_exists(cfg.netns):
        found.append(f"netns {cfg.netns}")
    if network.link_exists(cfg.host_veth):
        found.append(f"link {cfg.host_veth}")
    return found


@pytest.mark.timeout(180)
def test_up_is_idempotent_and_down_leaves_nothing_behind(tmp_path: Path) -> None:
    cfg = lifecycle_config(tmp_path / "state")
    bins = Binaries.from_cache()
    try:
        assert cluster.up(cfg, bins=bins, say=lambda _: None) is True
        pids = {
            c.name: processes.running(cfg.layout.pidfile(c.name)) for c in components(cfg, bins)
        }
        messages: list[str] = []
        assert cluster.up(cfg, bins=bins, say=messages.append) is False
        assert any("already running" in m for m in messages)
        assert pids == {
            c.name: processes.running(cfg.layout.pidfile(c.name)) for c in components(cfg, bins)
        }
        rows = cluster.status(cfg, bins=bins)
        assert [r.name for r in rows] == [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ]
        assert all(r.healthy and r.rss_bytes > 0 for r in rows)
    finally:
        cluster.down(cfg, bins=bins, say=lambda _: None)
    assert leftovers(cfg) == []
    assert all(not r.healthy and r.pid is None for r in cluster.status(cfg, bins=bins))


@pytest.mark.timeout(60)
def test_a_port_in_use_is_reported_with_the_component(tmp_path: Path) -> None:
    cfg = lifecycle_config(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        cfg = dataclasses.replace(cfg, etcd_client_port=squatter.getsockname()[1])
        try:
            with pytest.raises(
                cluster.LocalClusterError, match=r"etcd: port \d+ is already in use"
            ):
                cluster.up(cfg, say=lambda _: None)
        finally:
            cluster.down(cfg, say=lambda _: None)
    assert leftovers(cfg) == []


def test_a_second_cluster_with_other_settings_on_the_same_state_is_refused(
    local_cluster: LocalCluster,
) -> None:
    other = dataclasses.replace(local_cluster.config, apiserver_port=36443)
    with pytest.raises(cluster.LocalClusterError, match="different settings"):
        cluster.up(other, say=lambda _: None)
