{{/* Chart name, overridable. */}}
{{- define "spillway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, plus the chart name unless already in it. */}}
{{- define "spillway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spillway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "spillway.labels" -}}
helm.sh/chart: {{ include "spillway.chart" . }}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spillway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "operator"). */}}
{{- define "spillway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spillway.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "spillway.operator.fullname" -}}
{{- printf "%s-operator" (include "spillway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spillway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spillway.operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image reference: repository plus digest, else tag, else the appVersion. */}}
{{- define "spillway.imageRef" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (default .appVersion .tag) }}
{{- end }}
{{- end }}

{{- define "spillway.image" -}}
{{- include "spillway.imageRef" (dict "repository" .Values.image.repository "digest" .Values.image.digest "tag" .Values.image.tag "appVersion" .Chart.AppVersion) }}
{{- end }}

{{- define "spillway.sidecarImage" -}}
{{- if or .Values.sidecar.image.repository .Values.sidecar.image.tag }}
{{- include "spillway.imageRef" (dict "repository" (default .Values.image.repository .Values.sidecar.image.repository) "digest" "" "tag" (default .Values.image.tag .Values.sidecar.image.tag) "appVersion" .Chart.AppVersion) }}
{{- else }}
{{- include "spillway.image" . }}
{{- end }}
{{- end }}

{{- define "spillway.redis.fullname" -}}
{{- printf "%s-redis" (include "spillway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The Redis URL as a literal, when there is one: the bundled Redis's Service, else redis.url.
Empty when only redis.existingSecret is given.
*/}}
{{- define "spillway.redis.url" -}}
{{- if .Values.redis.bundled.enabled }}
{{- printf "redis://%s.%s.svc:%d" (include "spillway.redis.fullname" .) .Release.Namespace (int .Values.redis.bundled.port) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/* Fails the render unless exactly one Redis source is configured. */}}
{{- define "spillway.redis.validate" -}}
{{- $sources := 0 }}
{{- if .Values.redis.bundled.enabled }}{{ $sources = add1 $sources }}{{ end }}
{{- if .Values.redis.url }}{{ $sources = add1 $sources }}{{ end }}
{{- if and .Values.redis.existingSecret.name (not .Values.redis.url) }}{{ $sources = add1 $sources }}{{ end }}
{{- if eq $sources 0 }}
{{- fail "redis: set redis.bundled.enabled, redis.url or redis.existingSecret.name (the operator needs Redis)" }}
{{- end }}
{{- if and .Values.redis.bundled.enabled (or .Values.redis.url .Values.redis.existingSecret.name) }}
{{- fail "redis: redis.bundled.enabled is true and an external Redis is set too; set redis.bundled.enabled=false to use the external one" }}
{{- end }}
{{- include "spillway.redis.validateWorkloadUsers" . }}
{{- end }}

{{- define "spillway.redis.authSecret" -}}
{{- printf "%s-auth" (include "spillway.redis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "true" when the operator keeps one Redis ACL user per workload (redis.workloadUsers), else "". */}}
{{- define "spillway.redis.workloadUsers" -}}
{{- $mode := .Values.redis.workloadUsers | default "auto" }}
{{- if or (eq $mode "on") (and (eq $mode "auto") .Values.redis.bundled.enabled) }}true{{ end }}
{{- end }}

{{/* Per-workload users need a credential-free URL sidecars reach, and no shared sidecar Secret. */}}
{{- define "spillway.redis.validateWorkloadUsers" -}}
{{- if include "spillway.redis.workloadUsers" . }}
{{- if .Values.redis.sidecarSecret.name }}
{{- fail "redis: workloadUsers gives each workload its own Secret; unset redis.sidecarSecret.name or set redis.workloadUsers=off" }}
{{- end }}
{{- if not (include "spillway.redis.url" .) }}
{{- fail "redis: workloadUsers=on needs redis.url (the address sidecars reach, without credentials)" }}
{{- end }}
{{- if hasPrefix "redis+sentinel" (include "spillway.redis.url" .) | or (hasPrefix "rediss+sentinel" (include "spillway.redis.url" .)) }}
{{- fail "redis: workloadUsers does not work with Sentinel (the Sentinels would need every workload user); set redis.workloadUsers=off" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spillway.webhook.fullname" -}}
{{- printf "%s-webhook" (include "spillway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spillway.webhook.tlsSecret" -}}
{{- printf "%s-webhook-tls" (include "spillway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spillway.injection.fullname" -}}
{{- printf "%s-injection" (include "spillway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
"true" when the `helm test` pod is rendered: tests and the webhook on, and the pod's namespace one
the webhook calls for (by default every namespace but kube-system and the release's).
*/}}
{{- define "spillway.tests.rendered" -}}
{{- if and .Values.tests.enabled .Values.webhook.enabled (or .Values.webhook.namespaceSelector (ne .Values.tests.namespace .Release.Namespace)) -}}
true
{{- end }}
{{- end }}

{{/* Namespace of the autoscaled workload. */}}
{{- define "spillway.autoscaling.namespace" -}}
{{- default .Release.Namespace .Values.autoscaling.target.namespace }}
{{- end }}

{{/* PromQL regex for the autoscaled workload's pod names. */}}
{{- define "spillway.autoscaling.podRegex" -}}
{{- $t := .Values.autoscaling.target }}
{{- if .Values.autoscaling.podRegex }}
{{- .Values.autoscaling.podRegex }}
{{- else if eq $t.kind "StatefulSet" }}
{{- printf "%s-[0-9]+" $t.name }}
{{- else }}
{{- printf "%s-[a-z0-9]+-[a-z0-9]+" $t.name }}
{{- end }}
{{- end }}

{{/* Shed outcomes of spillway_requests_total (the refusal reasons). */}}
{{- define "spillway.shedOutcomes" -}}
capacity|load-level|queue-timeout
{{- end }}

{{/* A Kubernetes quantity ("600m", "2", "1.5") as a plain decimal for KEDA's threshold. */}}
{{- define "spillway.quantityToDecimal" -}}
{{- $q := toString . }}
{{- if hasSuffix "m" $q }}
{{- divf (trimSuffix "m" $q | float64) 1000 }}
{{- else }}
{{- $q }}
{{- end }}
{{- end }}
