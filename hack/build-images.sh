#!/usr/bin/env bash
# Fetch Cassandra and build the local images, for every version given
# (idempotent: a warm run only checks stamps and takes seconds).
#
#   hack/build-images.sh [VERSION...]
#
# Without arguments: the versions in $CASSANDRA_VERSIONS (space-separated) if
# set, else CASSANDRA_VERSION and CASSANDRA_UPGRADE_VERSION from
# src/navigator/versions.env. For each version <v>:
#   cassandra:<v>            from the fetched distribution
#   navigator-cassandra:<v>  the same plus the pilot (rebuilt when src/ changes)
# and once: navigator:<package version>, the operator's image.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "${repo_root}/src/navigator/versions.env"
if [[ $# -gt 0 ]]; then
  versions=("$@")
else
  read -r -a versions <<<"${CASSANDRA_VERSIONS:-${CASSANDRA_VERSION} ${CASSANDRA_UPGRADE_VERSION}}"
fi
bash "${repo_root}/hack/fetch-cassandra.sh" "${versions[@]}"
cd "${repo_root}"
uv run --locked python -m navigator.cassandra.image "${versions[@]}"
uv run --locked python -m navigator.cassandra.pilot_image "${versions[@]}"
