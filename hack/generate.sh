#!/usr/bin/env bash
# Regenerate the committed files derived from the API types (CRDs, API
# reference) and from the operator's chart (deploy/operator,
# deploy/operator-namespaced, the chart's crds/; needs `make helm`).
set -euo pipefail
cd "$(dirname "$0")/.."
uv run --locked python -m navigator.api.crdgen deploy/crds docs/api.md
uv run --locked python -m navigator.local.helm
