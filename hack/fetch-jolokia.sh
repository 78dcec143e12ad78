#!/usr/bin/env bash
# Fetch the pinned Jolokia JVM agent (JMX over HTTP) from Maven Central, once per version.
# Result: $NAVIGATOR_CACHE/jolokia/<version>/jolokia-agent.jar
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "${repo_root}/src/navigator/versions.env"
cache="${NAVIGATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/navigator}"
dest="${cache}/jolokia/${JOLOKIA_VERSION}"
if [[ -f "${dest}/jolokia-agent.jar" ]]; then
  echo "jolokia ${JOLOKIA_VERSION}: cached in ${dest}"
  exit 0
fi
mkdir -p "${dest}"
work="$(mktemp -d "${cache}/jolokia-fetch.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
mvn -q dependency:copy \
  -Dartifact="org.jolokia:jolokia-agent-jvm:${JOLOKIA_VERSION}:jar:javaagent" \
  -DoutputDirectory="${work}"
mv "${work}/jolokia-agent-jvm-${JOLOKIA_VERSION}-javaagent.jar" "${dest}/jolokia-agent.jar"
echo "jolokia ${JOLOKIA_VERSION}: fetched into ${dest}"
