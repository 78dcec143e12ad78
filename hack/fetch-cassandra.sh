#!/usr/bin/env bash
# Fetch Apache Cassandra into the cache, once per version.
#
#   hack/fetch-cassandra.sh [VERSION...]
#
# Without arguments: the versions in $CASSANDRA_VERSIONS (space-separated) if
# set, else the pinned CASSANDRA_VERSION from src/navigator/versions.env.
#
# Maven Central does not publish the binary tarball
# (org.apache.cassandra:apache-cassandra:<v>:tar.gz:bin) for the 5.0 line, so
# the distribution is assembled from `cassandra-all` and its runtime
# dependencies (resolved by mvn with its default configuration) plus the small
# bin/ and conf/ trees kept in src/navigator/cassandra/dist/.
#
# Result: $NAVIGATOR_CACHE/cassandra/<version>/{lib,bin,conf}
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "${repo_root}/src/navigator/versions.env"
cache="${NAVIGATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/navigator}"

if [[ $# -gt 0 ]]; then
  versions=("$@")
else
  read -r -a versions <<<"${CASSANDRA_VERSIONS:-${CASSANDRA_VERSION}}"
fi

# bin/ and conf/ are ours and tiny: refresh them from the repository every time.
install_scripts() {
  local into="$1"
  rm -rf "${into}/bin" "${into}/conf"
  cp -r "${repo_root}/src/navigator/cassandra/dist/bin" "${into}/bin"
  cp -r "${repo_root}/src/navigator/cassandra/dist/conf" "${into}/conf"
  chmod 0755 "${into}/bin/"*
}

fetch_one() {
  local version="$1" dest="${cache}/cassandra/$1" work start
  if [[ ! "${version}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "cassandra: not a release version: '${version}'" >&2
    return 2
  fi
  mkdir -p "${cache}/cassandra"
  # One fetch per version at a time (another `make cassandra` may be running).
  exec 9>"${cache}/cassandra/.${version}.lock"
  flock 9

  if [[ -f "${dest}/.complete" ]]; then
    install_scripts "${dest}"
    echo "cassandra ${version}: cached in ${dest}"
    exec 9>&-
    return 0
  fi

  work="$(mktemp -d "${cache}/cassandra-fetch.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: ${work} is local
  trap "rm -rf '${work}'" EXIT

  cat >"${work}/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.navigator</groupId>
  <artifactId>cassandra-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
POM

  start=$(date +%s)
  echo "cassandra ${version}: resolving cassandra-all and its runtime dependencies with mvn"
  mvn -q -f "${work}/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="${work}/dist/lib"

  install_scripts "${work}/dist"
  mkdir -p "${work}/dist/data" "${work}/dist/logs"
  echo "${version}" >"${work}/dist/VERSION"
  touch "${work}/dist/.complete"

  rm -rf "${dest}"
  mv "${work}/dist" "${dest}"
  rm -rf "${work}"
  trap - EXIT
  exec 9>&-
  echo "cassandra ${version}: fetched into ${dest} in $(($(date +%s) - start))s"
}

for version in "${versions[@]}"; do
  fetch_one "${version}"
done
