#!/usr/bin/env bash
# Install what Navigator's builds and tests need, from the package registries
# only, and only when missing (a warm machine does nothing here).
set -euo pipefail

log() { printf '[install-tools] %s\n' "$*" >&2; }

# System packages: iproute2 (network namespaces), openssl, util-linux
# (unshare/nsenter), procps, xfsprogs (the local cluster's volumes are XFS
# images that grow online), and a JDK + Maven for Cassandra.
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v ps >/dev/null 2>&1 || need+=(procps)
command -v xfs_growfs >/dev/null 2>&1 || need+=(xfsprogs)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "error: missing system packages (${need[*]}) and not root to install them"
    exit 1
  fi
  log "installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  log "error: Go >= 1.21 is required to build the control plane from source (GOTOOLCHAIN fetches newer toolchains from the Go module proxy)"
  exit 1
fi

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
