{{/*
The operator's rules, once, read off the code: kopf's watches
(src/navigator/operator/main.py), every call of `Kube` (core/kube.py, used by
reconcile.py). The Lease's rules are in rbac.yaml.

Called with "all" (cluster-wide mode: one ClusterRole), "cluster" (only the
rules on cluster-scoped resources) or "namespaced" (only the others); the
namespaced mode grants the two parts apart. Keep each rule on one scope:
tests/unit/deploy/test_helm_chart.py checks the split against the resources'
real scopes.
*/}}
{{- define "navigator.rules" -}}
{{- $cluster := or (eq . "all") (eq . "cluster") -}}
{{- $namespaced := or (eq . "all") (eq . "namespaced") -}}
{{- if $cluster }}
# kopf: discovers the watched resources and follows CRD changes, so CRDs
# installed or upgraded after the operator started are picked up (read only).
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}
{{- if $namespaced }}
# The clusters: watched by kopf, read by the reconcile, status written by
# server-side apply.
- apiGroups: [navigator.dev]
  resources: [cassandraclusters]
  verbs: [get, list, watch]
- apiGroups: [navigator.dev]
  resources: [cassandraclusters/status]
  verbs: [patch]
# Children carry a controller owner reference with blockOwnerDeletion; where
# the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift)
# that needs update on the owner's finalizers.
- apiGroups: [navigator.dev]
  resources: [cassandraclusters/finalizers]
  verbs: [update]
# Children: watched (StatefulSets, Pilots) or read, then server-side applied
# (a PATCH; one that creates the object also needs `create`); Pilots of
# removed members are deleted, and so is the StatefulSet of a pool removed
# from the spec once its members are gone (and one re-created by storage
# expansion).
- apiGroups: [navigator.dev]
  resources: [pilots]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, serviceaccounts]
  verbs: [get, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, create, patch]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, create, patch]
# The kept volume of a decommissioned member: labelled (an apply to an
# existing claim, so no `create`: the operator never makes a volume), then
# deleted before that ordinal is created again (never any other volume).
# Storage expansion: the members' claims are listed and their size patched,
# the StatefulSet deleted with its pods orphaned and applied again.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, patch, delete]
{{- end }}
{{- if $cluster }}
# Storage expansion: does the claims' StorageClass allow expansion?
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get]
# Dead-node replacement: for a member whose pod cannot be scheduled, the
# volume its claim is bound to and whether the node that volume is pinned
# to still exists (a node gone for good takes a local volume with it).
- apiGroups: [""]
  resources: [persistentvolumes, nodes]
  verbs: [get]
{{- end }}
{{- if $namespaced }}
# Members' Pods, listed by the cluster's label (never watched): a Pod that
# is unschedulable or crash-loops explains a member that never reports, and
# each Pod's revision annotation drives the rollout, which restarts one
# member at a time by deleting its Pod (get checks the incarnation first).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, delete]
# Secrets, by name only (no list or watch): the superuser's (read, and
# created once when the spec names none; the operator never patches it),
# and with spec.tls the cluster's CA (created once) and each pool's
# certificates (patched by server-side apply when issued or renewed).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
# spec.tls.certManager: a cert-manager Certificate per member.
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, create, patch]
# Events users see in `kubectl describe cassandracluster`.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# The pilots' Role (src/navigator/pilot/rbac.py, PILOT_RULES), which the
# operator creates in every cluster's namespace. The API server lets a
# subject write a Role or RoleBinding only if it holds every permission the
# Role grants, or has `escalate` (on roles) / `bind` (on the referenced role).
# `escalate` and `bind` would let the operator grant any permission at all in
# any namespace, itself included; holding the pilot's few permissions is
# the smaller grant. The rules below (with cassandraclusters get, pilots
# get/list/watch and events create/patch above) are held for that reason
# only: the operator itself never uses them. Keep them in step with
# PILOT_RULES; the RBAC tests fail when they drift.
- apiGroups: [navigator.dev]
  resources: [pilots/status]
  verbs: [patch, update]
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
{{- end -}}
