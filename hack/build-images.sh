#!/usr/bin/env bash
# Build the local images (idempotent: an image is rebuilt from the cache in seconds).
#   cassandra:<CASSANDRA_VERSION>            from the fetched distribution (make cassandra)
#   navigator-cassandra:<CASSANDRA_VERSION>  the same plus the pilot (rebuilt when src/ changes)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${repo_root}/hack/fetch-cassandra.sh"
cd "${repo_root}"
uv run --locked python -m navigator.cassandra.image
uv run --locked python -m navigator.cassandra.pilot_image
