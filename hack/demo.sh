#!/usr/bin/env bash
# `make demo`: the local cluster, the operator (the Helm chart
# deploy/helm/navigator, installed with the pinned helm) and a three-member
# CassandraCluster from deploy/examples/, shown as it comes up.
# Idempotent: run it again and it reuses whatever is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
nav() { uv run --locked navigator "$@"; }
cluster_name=demo
namespace=default
timeout_s="${DEMO_TIMEOUT:-1200}"

echo "==> the local Kubernetes cluster (etcd + kube-* built from source, 3 node agents)"
nav local up --nodes 3
eval "$(nav local env)"

echo "==> the images: navigator-cassandra (Cassandra + pilot) and navigator (the operator)"
uv run --locked python -m navigator.cassandra.pilot_image

echo "==> the operator: helm upgrade --install of deploy/helm/navigator (values: deploy/local/values.yaml)"
# Helm installs the chart's crds/ on a first install only: apply them first, so
# that a re-run after the API changed keeps them current (docs/operator.md,
# "Upgrade"). --take-ownership adopts what an older demo applied with kubectl.
kubectl apply --server-side --force-conflicts -f deploy/helm/navigator/crds >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/cassandraclusters.navigator.dev crd/pilots.navigator.dev >/dev/null
# The operator's namespace enforces the restricted Pod Security standard.
kubectl get namespace navigator-system >/dev/null 2>&1 || kubectl create namespace navigator-system >/dev/null
kubectl label namespace navigator-system --overwrite \
  pod-security.kubernetes.io/enforce=restricted >/dev/null
helm_start=$(date +%s)
helm upgrade --install navigator deploy/helm/navigator --namespace navigator-system \
  --take-ownership --values deploy/local/values.yaml --wait --timeout 5m
echo "  helm: release navigator deployed in $(( $(date +%s) - helm_start ))s"
kubectl -n navigator-system rollout status deployment/navigator-operator --timeout=180s

echo "==> a 3-member Cassandra cluster (deploy/examples/cassandra-3-nodes.yaml)"
kubectl -n "${namespace}" apply -f deploy/examples/cassandra-3-nodes.yaml
start=$(date +%s)
last=""
while :; do
  line="$(kubectl -n "${namespace}" get cassandracluster "${cluster_name}" -o jsonpath='{.status.phase} {.status.readyMembers} {.status.operation.type} {.status.operation.target} {.status.operation.blockedBy.rule}' 2>/dev/null || true)"
  # A status is only an answer once it describes the spec just applied.
  generations="$(kubectl -n "${namespace}" get cassandracluster "${cluster_name}" -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.auth.ready}' 2>/dev/null || true)"
  elapsed=$(( $(date +%s) - start ))
  if [[ "${line}" != "${last}" ]]; then
    printf '  [%4ss] %s\n' "${elapsed}" "${line:-waiting for the operator}"
    last="${line}"
  fi
  phase="${line%% *}"
  read -r generation observed auth_ready <<<"${generations:-x y}"
  # Ready, the spec observed, and the superuser set up (clients can log in).
  if [[ "${phase}" == "Ready" && "${generation}" == "${observed}" && "${auth_ready}" == "true" ]]; then break; fi
  if (( elapsed > timeout_s )); then
    echo "the cluster is not Ready after ${timeout_s}s; what it says:" >&2
    kubectl -n "${namespace}" describe cassandracluster "${cluster_name}" >&2
    kubectl -n navigator-system logs deployment/navigator-operator --tail=50 >&2 || true
    exit 1
  fi
  sleep 3
done
echo
nav status "${cluster_name}" -n "${namespace}"
seed_ip="$(kubectl -n "${namespace}" get pod "${cluster_name}-rack1-0" -o jsonpath='{.status.podIP}')"
cat <<MSG

==> Cassandra is running, managed by Navigator. Next:

  your shell:        eval "\$(uv run navigator local env)"
  the cluster:       kubectl get cassandraclusters,pods,pilots
                     uv run navigator status ${cluster_name}          (add -w to follow it)
                     kubectl describe cassandracluster ${cluster_name}
  log in:            auth is on; the superuser is in Secret ${cluster_name}-superuser (docs/security.md)
                     user=\$(kubectl get secret ${cluster_name}-superuser -o jsonpath='{.data.username}' | base64 -d)
                     export NAVIGATOR_CQL_PASSWORD=\$(kubectl get secret ${cluster_name}-superuser -o jsonpath='{.data.password}' | base64 -d)
  connect (CQL):     uvx --from cqlsh cqlsh -u "\$user" -p "\$NAVIGATOR_CQL_PASSWORD" ${seed_ip} 9042
                     (any member's pod IP works; the host reaches pod IPs directly)
  inside a member:   kubectl exec ${cluster_name}-rack1-0 -c cassandra -- nodetool status
                     (cqlsh too; or kubectl port-forward pod/${cluster_name}-rack1-0 9042 for a client on 127.0.0.1)
  write and check:   uv run navigator check-data --contact-points ${seed_ip} --username "\$user" --duration 30
  scale out/in:      kubectl patch cassandracluster ${cluster_name} --type=json \\
                       -p '[{"op":"replace","path":"/spec/nodePools/0/replicas","value":4}]'
                     (back to 3: the operator decommissions the member first)
  pause changes:     kubectl patch cassandracluster ${cluster_name} --type=merge -p '{"spec":{"paused":true}}'
  operator logs:     kubectl -n navigator-system logs deployment/navigator-operator
  the release:       helm -n navigator-system list        (helm is on the PATH of \`local env\`)
  tear down:         kubectl delete cassandracluster ${cluster_name}   (volumes are kept)
                     make down                                 (stops the whole local cluster)
MSG
