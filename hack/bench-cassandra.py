"""Measure the Cassandra runtime on this machine and print the figures.

    uv run python hack/bench-cassandra.py [--nodes 3] [--heap 512M] [--cold-fetch]

- cold fetch: hack/fetch-cassandra.sh into an empty cache *and* an empty Maven
  repository (only with --cold-fetch; it downloads ~65 MB);
- per node: start time (process start -> CQL port accepting) and RSS, right
  after start and once every node is up.
Needs root (network namespaces). Starts one cluster and always tears it down.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from navigator.testing.cassandra import cassandra_cluster, wait_for_states

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def cold_fetch_seconds() -> float:
    with tempfile.TemporaryDirectory(prefix="navc-bench-") as tmp:
        env = dict(os.environ, NAVIGATOR_CACHE=f"{tmp}/cache")
        env["MAVEN_OPTS"] = f"{env.get('MAVEN_OPTS', '')} -Dmaven.repo.local={tmp}/m2".strip()
        began = time.monotonic()
        subprocess.run(["bash", str(REPO / "hack/fetch-cassandra.sh")], env=env, check=True)
        return time.monotonic() - began


def bench_cluster(nodes: int, heap: str) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="navc-bench-") as tmp,
        cassandra_cluster(Path(tmp), size=nodes, heap=heap) as cluster,
    ):
        at_start = {node.name: node.rss_bytes() for node in cluster.nodes}
        wait_for_states(cluster, cluster.nodes[0], cluster.addresses)
        time.sleep(10)
        print(f"{'node':8} {'start s':>8} {'RSS at start MiB':>17} {'RSS settled MiB':>16}")
        for node in cluster.nodes:
            print(
                f"{node.name:8} {node.start_seconds or 0:8.1f} "
                f"{at_start[node.name] / MIB:17.0f} {node.rss_bytes() / MIB:16.0f}"
            )
        total = sum(node.rss_bytes() for node in cluster.nodes) / MIB
        print(f"heap {heap}, {nodes} nodes, total RSS {total:.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--heap", default="512M")
    parser.add_argument("--cold-fetch", action="store_true")
    args = parser.parse_args()
    if args.cold_fetch:
        print(f"cold fetch: {cold_fetch_seconds():.1f}s")
    bench_cluster(args.nodes, args.heap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
