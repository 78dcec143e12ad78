#!/usr/bin/env bash
# Fetch the pinned Apache Cassandra into the cache, once per version.
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
version="${1:-${CASSANDRA_VERSION}}"
cache="${NAVIGATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/navigator}"
dest="${cache}/cassandra/${version}"

# bin/ and conf/ are ours and tiny: refresh them from the repository every time.
install_scripts() {
  local into="$1"
  rm -rf "${into}/bin" "${into}/conf"
  cp -r "${repo_root}/src/navigator/cassandra/dist/bin" "${into}/bin"
  cp -r "${repo_root}/src/navigator/cassandra/dist/conf" "${into}/conf"
  chmod 0755 "${into}/bin/"*
}

if [[ -f "${dest}/.complete" ]]; then
  install_scripts "${dest}"
  echo "cassandra ${version}: cached in ${dest}"
  exit 0
fi

work="$(mktemp -d "${cache}/cassandra-fetch.XXXXXX" 2>/dev/null || { mkdir -p "${cache}"; mktemp -d "${cache}/cassandra-fetch.XXXXXX"; })"
trap 'rm -rf "${work}"' EXIT

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

mkdir -p "$(dirname "${dest}")"
rm -rf "${dest}"
mv "${work}/dist" "${dest}"
echo "cassandra ${version}: fetched into ${dest} in $(($(date +%s) - start))s"
