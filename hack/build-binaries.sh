#!/usr/bin/env bash
# Build the pinned, version-stamped control-plane binaries from upstream Go
# modules and cache them by version:
#
#   $NAVIGATOR_CACHE/bin/kubernetes-<v>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $NAVIGATOR_CACHE/bin/etcd-<v>/etcd
#   $NAVIGATOR_CACHE/bin/coredns-<v>/coredns
#   $NAVIGATOR_CACHE/bin/helm-<v>/helm
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod requires the staging
# modules (k8s.io/api, ...) at v0.0.0 and replaces them with ./staging paths.
# We build through a throw-away helper module that requires k8s.io/kubernetes
# and replaces each staging module with its published v0.Y.Z tag. The replace
# list is generated from that release's own go.mod, never maintained by hand.
# etcd's server module has the same shape (replace lines to ../api etc.).
# helm.sh/helm/v4 has no replace lines: a plain `go install` of its command.
#
# Usage: hack/build-binaries.sh [kubernetes|etcd|coredns|helm|all]   (default: all)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../src/navigator/versions.env
source "$here/src/navigator/versions.env"

cache="${NAVIGATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/navigator}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

log() { printf '[build-binaries] %s\n' "$*" >&2; }

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    log "error: the Go toolchain is required to build the control plane (install Go >= 1.26)"
    exit 1
  fi
}

# replace_lines MODFILE PREFIX VERSION: turn every `PREFIX... => ./path` or
# `=> ../path` replace directive of MODFILE into `PREFIX... => PREFIX... VERSION`.
replace_lines() {
  local modfile=$1 prefix=$2 version=$3
  # Handles both `replace a => ./b` and the block form `replace ( a => ./b )`.
  awk -v pfx="$prefix" -v ver="$version" '
    /^replace[ \t]*\(/ { inblock = 1; next }
    inblock && /^\)/   { inblock = 0; next }
    {
      line = $0
      sub(/^replace[ \t]+/, "", line)
      if ((inblock || $0 ~ /^replace[ \t]/) && line ~ /=>[ \t]*\.\.?\//) {
        split(line, parts, /[ \t]*=>[ \t]*/)
        mod = parts[1]; gsub(/[ \t]/, "", mod)
        if (index(mod, pfx) == 1) printf "replace %s => %s %s\n", mod, mod, ver
      }
    }' "$modfile"
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION out="$cache/bin/kubernetes-$KUBERNETES_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if [ -x "$out/kubectl" ] && [ -x "$out/kube-apiserver" ] && \
     [ -x "$out/kube-controller-manager" ] && [ -x "$out/kube-scheduler" ]; then
    log "kubernetes $v: cached in $out"
    return
  fi
  need_go
  local minor=${v#v1.}; minor=${minor%%.*}
  local staging="v0.${v#v1.}"
  local work="$cache/build/kubernetes-$v"
  rm -rf "$work"; mkdir -p "$work" "$out"
  log "kubernetes $v: resolving k8s.io/kubernetes go.mod"
  local upstream_mod
  upstream_mod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module navigator.local/build/kubernetes"
    echo
    grep -E '^go [0-9.]+' "$upstream_mod"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    replace_lines "$upstream_mod" "k8s.io/" "$staging"
  } >"$work/go.mod"
  log "kubernetes $v: $(grep -c '^replace' "$work/go.mod") staging replace lines generated"
  local pkgs=()
  for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$work" && go get "${pkgs[@]/%/@$v}" >/dev/null 2>&1 || go get "${pkgs[@]}")
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  log "kubernetes $v: compiling ${bins[*]} (cold build: 10-20 min on 2 cores)"
  local start=$SECONDS
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out/" "${pkgs[@]}")
  log "kubernetes $v: built in $((SECONDS - start)) s into $out"
  echo "$((SECONDS - start))" >"$out/.build-seconds"
}

build_etcd() {
  local v=$ETCD_VERSION out="$cache/bin/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then
    log "etcd $v: cached in $out"
    return
  fi
  need_go
  local work="$cache/build/etcd-$v"
  rm -rf "$work"; mkdir -p "$work" "$out"
  local upstream_mod
  upstream_mod=$(cd "$work" && go mod download -json "go.etcd.io/etcd/server/v3@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module navigator.local/build/etcd"
    echo
    grep -E '^go [0-9.]+' "$upstream_mod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $v"
    echo
    replace_lines "$upstream_mod" "go.etcd.io/etcd/" "$v"
  } >"$work/go.mod"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$v")
  log "etcd $v: compiling"
  local start=$SECONDS
  (cd "$work" && go build -trimpath \
      -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${v}" \
      -o "$out/etcd" go.etcd.io/etcd/server/v3)
  log "etcd $v: built in $((SECONDS - start)) s into $out"
  echo "$((SECONDS - start))" >"$out/.build-seconds"
}

build_coredns() {
  local v=$COREDNS_VERSION out="$cache/bin/coredns-$COREDNS_VERSION"
  if [ -x "$out/coredns" ]; then
    log "coredns $v: cached in $out"
    return
  fi
  need_go
  local work="$cache/build/coredns-$v"
  rm -rf "$work"; mkdir -p "$work" "$out"
  local upstream_mod
  upstream_mod=$(cd "$work" && go mod download -json "github.com/coredns/coredns@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module navigator.local/build/coredns"
    echo
    grep -E '^go [0-9.]+' "$upstream_mod"
    echo
    echo "require github.com/coredns/coredns $v"
    echo
    replace_lines "$upstream_mod" "github.com/coredns/" "$v"
  } >"$work/go.mod"
  (cd "$work" && go get "github.com/coredns/coredns@$v")
  log "coredns $v: compiling"
  local start=$SECONDS
  (cd "$work" && go build -trimpath \
      -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=${v}" \
      -o "$out/coredns" github.com/coredns/coredns)
  log "coredns $v: built in $((SECONDS - start)) s into $out"
  echo "$((SECONDS - start))" >"$out/.build-seconds"
}

build_helm() {
  local v=$HELM_VERSION out="$cache/bin/helm-$HELM_VERSION"
  if [ -x "$out/helm" ]; then
    log "helm $v: cached in $out"
    return
  fi
  need_go
  mkdir -p "$out"
  log "helm $v: compiling (cold build: a few minutes on 2 cores)"
  local start=$SECONDS
  # `helm version` reports the version stamped here (the source says only "v4.3").
  GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${v} -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v4/cmd/helm@$v"
  log "helm $v: built in $((SECONDS - start)) s into $out"
  echo "$((SECONDS - start))" >"$out/.build-seconds"
}

what=${1:-all}
case "$what" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  coredns) build_coredns ;;
  helm) build_helm ;;
  all) build_etcd; build_kubernetes; build_coredns; build_helm ;;
  *) log "usage: $0 [kubernetes|etcd|coredns|helm|all]"; exit 2 ;;
esac
