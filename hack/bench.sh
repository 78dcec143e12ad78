#!/usr/bin/env bash
# Run every benchmark and print its figures (no timed assertions).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "=== local control plane"
uv run --locked python hack/bench_local.py "$@"
for b in hack/bench-*.py; do
  [ -e "$b" ] || continue
  echo "=== $b"
  uv run --locked python "$b"
done
