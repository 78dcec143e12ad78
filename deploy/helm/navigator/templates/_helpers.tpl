{{/* The release's objects are named <release>-operator (navigator-operator for
the release `navigator`, the names deploy/operator uses). */}}
{{- define "navigator.fullname" -}}
{{- default (printf "%s-operator" .Release.Name) .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The pods' labels and the Deployment's selector. The selector never changes
between versions (it is immutable), so it carries no version and no release:
one release per namespace (the Lease's name is fixed). */}}
{{- define "navigator.selectorLabels" -}}
app.kubernetes.io/name: navigator-operator
{{- end -}}

{{/* Every object's labels. No helm.sh/chart or managed-by: deploy/operator is
rendered from this chart and applied with kubectl; Helm tracks its own
objects by its annotations. */}}
{{- define "navigator.labels" -}}
{{ include "navigator.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: navigator
{{- end -}}

{{- define "navigator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Lease's name: a constant of the operator (navigator.operator.core.leader.LEASE_NAME). */}}
{{- define "navigator.leaseName" -}}
navigator-operator
{{- end -}}

{{/* The namespaced rules' ClusterRole (namespaced mode only). */}}
{{- define "navigator.namespacedRulesName" -}}
{{- printf "%s-namespaced" (include "navigator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "navigator.serviceAccount" -}}
- kind: ServiceAccount
  name: {{ include "navigator.fullname" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
