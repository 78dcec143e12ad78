"""`navigator local down` with nodes and pods leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from agent_helpers import container_pid, eventually, pod_manifest

from navigator.local import cluster, network
from navigator.local.agent.fleet import NodeSet
from navigator.local.agent.testimage import ensure_test_image
from navigator.local.paths import Binaries
from navigator.testing.pytest_plugin import LocalCluster, isolated_cluster_config, session_slot

pytestmark = pytest.mark.integration


def leftovers(cfg_dir: Path, netns_prefix: str, pids: list[int]) -> list[str]:
    found = []
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    found += [line for line in ps.stdout.splitlines() if str(cfg_dir) in line]
    found += [f"pid {pid}" for pid in pids if Path(f"/proc/{pid}").exists()]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [line for line in mounts.splitlines() if str(cfg_dir) in line]
    for controller in ("memory", "cpu"):
        parent = Path("/sys/fs/cgroup") / controller / "navigator"
        if parent.is_dir():
            found += [str(p) for p in parent.iterdir() if p.name.startswith(netns_prefix)]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    found += [line for line in netns.stdout.splitlines() if line.startswith(netns_prefix)]
    return found


@pytest.mark.timeout(240)
def test_down_stops_pods_agents_and_dns_and_leaves_nothing(tmp_path: Path) -> None:
    ensure_test_image()
    cfg = isolated_cluster_config(tmp_path / "state", slot=session_slot() + 20)
    bins = Binaries.from_cache()
    handle = LocalCluster(cfg, bins)
    try:
        cluster.up(cfg, bins=bins, say=lambda _: None, nodes=NodeSet(count=1))
        pod = pod_manifest("p", volumes=[{"name": "tmp", "emptyDir": {}}])
        pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "tmp", "mountPath": "/scratch"}]
        pod["spec"]["containers"][0]["resources"] = {"limits": {"memory": "256Mi"}}
        handle.kubectl("apply", "-n", "default", "-f", "-", input=yaml.safe_dump(pod))

        def running() -> object:
            out = handle.kubectl("get", "pod", "p", "-o", "json", check=False)
            return out.returncode == 0 and '"Ready"' in out.stdout and out.stdout

        obj = json.loads(eventually(running, timeout=60))
        pid = eventually(lambda: container_pid(handle, obj))
        assert os.path.exists(f"/proc/{pid}")
        rows = {r.name: r for r in cluster.status(cfg, bins=bins)}
        assert rows["agent-local-node-1"].healthy
    finally:
        cluster.down(cfg, bins=bins, say=lambda _: None)
    assert leftovers(cfg.state_dir, f"{cfg.netns}-", [pid]) == []
    assert not network.netns_exists(cfg.netns)
