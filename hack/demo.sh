#!/usr/bin/env bash
# `make demo`: bring up the embedded local cluster and show how to use it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
nav() { uv run --locked navigator "$@"; }

echo "==> starting the local Kubernetes control plane (real etcd + kube-* built from source)"
nav local up
eval "$(nav local env)"
echo
echo "==> health"
nav local status
echo -n "kubectl get --raw /readyz: "; kubectl get --raw /readyz; echo
kubectl version
echo
cat <<MSG
==> the local cluster is running. Next:

  use it in your shell:   eval "\$(uv run navigator local env)"
                          kubectl get namespaces
  see its components:     uv run navigator local status
  stop it:                uv run navigator local down     (or: make down)

Pods stay Pending for now: the node agent that runs them is the next milestone.
MSG
