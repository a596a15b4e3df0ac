{{/*
Named templates shared by the manifests. The chart keeps to a small subset of the template language on
purpose (see tests/helm_chart.rs, which renders it without helm): no range, no variables.
*/}}

{{/* The chart name, or nameOverride; 63 characters at most, the limit of a DNS label. */}}
{{- define "pushgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The name of every resource: <release>-<name>, or just the release name when it already holds the name. */}}
{{- define "pushgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "pushgate.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "pushgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{/* Labels that pick the pods: immutable in a workload's selector, so nothing version-dependent. */}}
{{- define "pushgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pushgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "pushgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "pushgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret the pod reads the admin token and credentials key from: the user's, or the chart's. */}}
{{- define "pushgate.secretName" -}}
{{- default (include "pushgate.fullname" .) .Values.secret.existingSecret -}}
{{- end }}

{{/*
The ConfigMap's data: the server's configuration as PUSHGATE_<SECTION>_<KEY> variables (the server's own
environment override, so `kubectl exec ... -- pushgate config print` shows the same configuration). Every
value is quoted: ConfigMap values must be strings. A named template, so the pod can carry its checksum and
restart when it changes.
*/}}
{{- define "pushgate.configData" -}}
PUSHGATE_SERVER_LISTEN: {{ printf "0.0.0.0:%v" .Values.ports.grpc | quote }}
PUSHGATE_SERVER_REQUEST_TIMEOUT: {{ .Values.config.server.requestTimeout | quote }}
PUSHGATE_SERVER_MAX_CONCURRENT_REQUESTS: {{ .Values.config.server.maxConcurrentRequests | quote }}
PUSHGATE_SERVER_SHUTDOWN_GRACE: {{ .Values.config.server.shutdownGrace | quote }}
PUSHGATE_STORE_BACKEND: {{ .Values.config.store.backend | quote }}
PUSHGATE_STORE_DATA_DIR: {{ .Values.persistence.mountPath | quote }}
PUSHGATE_STORE_CACHE_MIB: {{ .Values.config.store.cacheMib | quote }}
{{- if eq .Values.config.store.backend "postgres" }}
PUSHGATE_STORE_POSTGRES_POOL_SIZE: {{ .Values.config.store.postgres.poolSize | quote }}
PUSHGATE_STORE_POSTGRES_CONNECT_TIMEOUT: {{ .Values.config.store.postgres.connectTimeout | quote }}
PUSHGATE_STORE_POSTGRES_STATEMENT_TIMEOUT: {{ .Values.config.store.postgres.statementTimeout | quote }}
PUSHGATE_STORE_POSTGRES_SSL_MODE: {{ .Values.config.store.postgres.sslMode | quote }}
{{- end }}
PUSHGATE_LOG_FILTER: {{ .Values.config.log.filter | quote }}
PUSHGATE_ADMIN_ENABLED: {{ .Values.config.admin.enabled | quote }}
PUSHGATE_ADMIN_LISTEN: {{ printf "0.0.0.0:%v" .Values.ports.admin | quote }}
{{- if .Values.config.telemetry.otlpEndpoint }}
PUSHGATE_TELEMETRY_OTLP_ENDPOINT: {{ .Values.config.telemetry.otlpEndpoint | quote }}
{{- end }}
PUSHGATE_TELEMETRY_SERVICE_NAME: {{ .Values.config.telemetry.serviceName | quote }}
{{- end }}

{{/*
The chart's Secret's data (when it makes one), a named template for the same reason as configData. One line
per key that has a value, each ending in a newline.
*/}}
{{- define "pushgate.secretData" -}}
{{- if .Values.secret.adminToken -}}
{{ .Values.secret.adminTokenKey }}: {{ .Values.secret.adminToken | quote }}
{{ end -}}
{{- if .Values.secret.credentialsKey -}}
{{ .Values.secret.credentialsKeyKey }}: {{ .Values.secret.credentialsKey | quote }}
{{ end -}}
{{- if .Values.secret.signingKey -}}
{{ .Values.secret.signingKeyKey }}: {{ .Values.secret.signingKey | quote }}
{{ end -}}
{{- if .Values.secret.postgresUrl -}}
{{ .Values.secret.postgresUrlKey }}: {{ .Values.secret.postgresUrl | quote }}
{{ end -}}
{{- end }}

{{/* Whether the chart makes a Secret: values given and no existingSecret. */}}
{{- define "pushgate.createSecret" -}}
{{- if not .Values.secret.existingSecret -}}
{{- if or .Values.secret.adminToken .Values.secret.credentialsKey .Values.secret.signingKey .Values.secret.postgresUrl -}}
true
{{- end -}}
{{- end -}}
{{- end }}

{{/*
Whether the store is PostgreSQL: the pod then has no volume, and every key comes from the Secret.
*/}}
{{- define "pushgate.postgres" -}}
{{- if eq .Values.config.store.backend "postgres" -}}
true
{{- end -}}
{{- end }}
