"""Measure the node agent on this machine and print the figures.

    uv run python hack/bench-agent.py [--pods 20] [--samples 15] [--idle-seconds 30]

- pod create -> Ready latency of a trivial pod (the test image's HTTP server,
  no readiness probe) on a warm cluster: p50/p90/max over --samples pods,
  created one after the other;
- the node agent's own RSS and CPU with --pods idle pods on its node.
Needs root. Starts one cluster of its own (1 node; ports, addresses and netns
of test slot $NAVIGATOR_TEST_SLOT + 30 unless --slot says otherwise, so it
never meets a test session's cluster) in a temporary directory and always
tears it down.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from navigator.local import cluster, processes
from navigator.local.agent.fleet import NodeSet
from navigator.local.agent.testimage import REF, ensure_test_image
from navigator.local.paths import Binaries
from navigator.testing.pytest_plugin import LocalCluster, isolated_cluster_config, session_slot

MIB = 1024 * 1024


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "agent"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "web", "image": REF}],
        },
    }


def ready(kube: LocalCluster, name: str) -> bool:
    out = kube.kubectl("get", "pod", name, "-o", "json", check=False)
    if out.returncode != 0:
        return False
    conds = json.loads(out.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def create_to_ready(kube: LocalCluster, name: str) -> float:
    started = time.monotonic()
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod(name)))
    while not ready(kube, name):
        if time.monotonic() - started > 60:
            raise SystemExit(f"pod {name} not Ready after 60 s")
        time.sleep(0.02)
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / 100.0


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--slot", type=int, default=session_slot() + 30)
    args = parser.parse_args()
    ensure_test_image()
    bins = Binaries.from_cache()
    with tempfile.TemporaryDirectory(prefix="nav-bench-agent-") as tmp:
        cfg = isolated_cluster_config(Path(tmp) / "state", slot=args.slot)
        kube = LocalCluster(cfg, bins)
        try:
            cluster.up(cfg, bins=bins, say=lambda _: None, nodes=NodeSet(count=1))
            create_to_ready(kube, "warmup")
            latencies = [create_to_ready(kube, f"p{i}") for i in range(args.samples)]
            for i in range(args.samples, args.pods):
                kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod(f"p{i}")))
            for i in range(args.pods):
                while not ready(kube, f"p{i}"):
                    time.sleep(0.1)
            kube.kubectl("delete", "pod", "warmup", "--wait=true")
            time.sleep(5)  # let the status reports settle
            agent = processes.running(cfg.layout.pidfile("agent-local-node-1"))
            assert agent is not None
            cpu0, t0 = cpu_seconds(agent.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            cpu = (cpu_seconds(agent.pid) - cpu0) / (time.monotonic() - t0)
            rss = processes.rss_bytes(agent.pid)
            shims = [processes.rss_bytes(pid) for pid in children(agent.pid)]
        finally:
            cluster.down(cfg, bins=bins, say=lambda _: None)
    latencies.sort()
    p90 = latencies[max(0, int(len(latencies) * 0.9) - 1)]
    print(f"pod create -> Ready ({len(latencies)} pods, one at a time):")
    print(f"  p50 {statistics.median(latencies):.2f} s, p90 {p90:.2f} s, max {latencies[-1]:.2f} s")
    print(f"node agent with {args.pods} idle pods:")
    print(f"  RSS {rss / MIB:.0f} MiB, CPU {cpu * 100:.1f}% of one core")
    print(f"  container shims: {len(shims)}, RSS {sum(shims) / MIB:.0f} MiB in total")


if __name__ == "__main__":
    main()
