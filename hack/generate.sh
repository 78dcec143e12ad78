#!/usr/bin/env bash
# Regenerate the committed files derived from the API types (CRDs, API reference).
set -euo pipefail
cd "$(dirname "$0")/.."
uv run --locked python -m navigator.api.crdgen deploy/crds docs/api.md
