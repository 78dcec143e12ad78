"""Benchmark the local control plane and print the figures.

- cold build time of the binaries (recorded by hack/build-binaries.sh);
- warm `navigator local up` to a ready API (median of N runs, binaries cached);
- resident memory of the idle control plane after it settles.

Runs on a cluster of its own (ports and network apart from the demo's).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from navigator.local import cluster
from navigator.local.paths import Binaries
from navigator.testing.pytest_plugin import isolated_cluster_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds idle before RSS")
    args = parser.parse_args()
    bins = Binaries.from_cache()
    for built in (bins.etcd.parent, bins.kubectl.parent):
        record = built / ".build-seconds"
        if record.exists():
            print(f"cold build (compile) {built.name}: {int(record.read_text())} s")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = isolated_cluster_config(Path(tmp) / "state", slot=20)
        times = []
        for i in range(args.runs):
            start = time.monotonic()
            cluster.up(cfg, bins=bins, say=lambda _: None)
            times.append(time.monotonic() - start)
            print(f"run {i + 1}: warm up -> API ready in {times[-1]:.2f} s")
            if i < args.runs - 1:
                cluster.down(cfg, bins=bins, say=lambda _: None)
        print(f"warm up -> ready API: median {statistics.median(times):.2f} s (target < 30 s)")
        time.sleep(args.settle)
        rows = cluster.status(cfg, bins=bins)
        total = 0
        for row in rows:
            total += row.rss_bytes
            print(f"idle RSS {row.name}: {row.rss_bytes / 2**20:.0f} MiB")
        print(f"idle control plane RSS total: {total / 2**20:.0f} MiB (target < 700 MiB)")
        cluster.down(cfg, bins=bins, say=lambda _: None)


if __name__ == "__main__":
    main()
