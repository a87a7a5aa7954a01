{{/*
Names. The release's objects are "<fullname>-<part>"; Dapr app-ids are the bare service
names (the gateway invokes "catalog", or "catalog.shop-<name>" for a dedicated shop).
*/}}
{{- define "shopfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "shopfleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shopfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<fullname>-<part>"; call with (list $ "part"). */}}
{{- define "shopfleet.partName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "shopfleet.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (list $ "part"). */}}
{{- define "shopfleet.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "shopfleet.chart" $root }}
{{ include "shopfleet.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: shopfleet
{{- end }}

{{/* Selector labels (immutable on Deployments); call with (list $ "part"). */}}
{{- define "shopfleet.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "shopfleet.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The selector labels as a label selector string (k=v,...); call with (list $ "part"). */}}
{{- define "shopfleet.selectorString" -}}
{{- $pairs := list }}
{{- range $key, $value := include "shopfleet.selectorLabels" . | fromYaml }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The one image, by digest when given. */}}
{{- define "shopfleet.image" -}}
{{- $img := .Values.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/* Dapr sidecar annotations; call with (list $ "app-id"). */}}
{{/* Where Prometheus scrapes a shopfleet pod: the metrics port, not the API port. */}}
{{- define "shopfleet.metricsAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.http.metricsPort | quote }}
prometheus.io/path: /metrics
{{- end }}

{{- define "shopfleet.daprAnnotations" -}}
{{- $root := index . 0 }}
{{- $d := $root.Values.dapr -}}
dapr.io/enabled: "true"
dapr.io/app-id: {{ index . 1 | quote }}
dapr.io/app-port: {{ $root.Values.http.port | quote }}
dapr.io/app-protocol: {{ $d.appProtocol | quote }}
dapr.io/config: {{ $d.config | quote }}
dapr.io/enable-app-health-check: "true"
dapr.io/app-health-check-path: {{ $root.Values.http.readinessPath | quote }}
dapr.io/log-as-json: {{ $d.logAsJson | quote }}
dapr.io/max-body-size: {{ $d.maxBodySize | quote }}
dapr.io/graceful-shutdown-seconds: {{ $d.gracefulShutdownSeconds | quote }}
dapr.io/block-shutdown-duration: {{ printf "%ds" (int $d.blockShutdownSeconds) | quote }}
{{- with $d.appMaxConcurrency }}
dapr.io/app-max-concurrency: {{ . | quote }}
{{- end }}
dapr.io/sidecar-cpu-request: {{ $d.sidecar.cpuRequest | quote }}
dapr.io/sidecar-memory-request: {{ $d.sidecar.memoryRequest | quote }}
dapr.io/sidecar-memory-limit: {{ $d.sidecar.memoryLimit | quote }}
{{- end }}

{{/*
How long the kubelet waits after SIGTERM before SIGKILL: the sidecar's blocked shutdown,
then its graceful shutdown, and a margin. (Both of those cover the app's drain.)
*/}}
{{- define "shopfleet.terminationGracePeriodSeconds" -}}
{{- add (int .Values.dapr.blockShutdownSeconds) (int .Values.dapr.gracefulShutdownSeconds) 5 }}
{{- end }}

{{/* Secret names. */}}
{{- define "shopfleet.tokenSecret" -}}
{{- default (include "shopfleet.partName" (list . "platform-token")) .Values.platform.token.existingSecret }}
{{- end }}

{{/* The token each service's sidecar proves itself with (dapr.io/app-token-secret, key "token"). */}}
{{- define "shopfleet.appTokenSecret" -}}
{{- include "shopfleet.partName" (list . "app-token") }}
{{- end }}

{{/* The credential services add to service-to-service calls; the gateway never gets it. */}}
{{- define "shopfleet.serviceTokenSecret" -}}
{{- include "shopfleet.partName" (list . "service-token") }}
{{- end }}

{{- define "shopfleet.connectionsSecret" -}}
{{- default (include "shopfleet.partName" (list . "connections")) .Values.connections.existingSecret }}
{{- end }}

{{- define "shopfleet.routesConfigMap" -}}
{{- default (include "shopfleet.partName" (list . "routes")) .Values.routes.configMapName }}
{{- end }}

{{/*
Data store hosts, as names that resolve from every namespace (dedicated shops' sidecars
use them too): the chart's own when backing.enabled, else the configured ones, else the
conventional service names of the Bitnami charts in the release namespace.
*/}}
{{- define "shopfleet.postgresHost" -}}
{{- if .Values.backing.enabled }}{{ include "shopfleet.partName" (list . "postgres") }}.{{ .Release.Namespace }}.svc
{{- else }}{{ .Values.postgres.host | default (printf "postgresql.%s.svc" .Release.Namespace) }}
{{- end }}
{{- end }}

{{- define "shopfleet.redisHost" -}}
{{- if .Values.backing.enabled }}{{ include "shopfleet.partName" (list . "redis") }}.{{ .Release.Namespace }}.svc:6379
{{- else }}{{ .Values.redis.host | default (printf "redis-master.%s.svc:6379" .Release.Namespace) }}
{{- end }}
{{- end }}

{{- define "shopfleet.rabbitmqHost" -}}
{{- if .Values.backing.enabled }}{{ include "shopfleet.partName" (list . "rabbitmq") }}.{{ .Release.Namespace }}.svc
{{- else }}{{ .Values.rabbitmq.host | default (printf "rabbitmq.%s.svc" .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* The gateway's in-cluster URL: the operator bootstraps shared-tier tenants through it. */}}
{{- define "shopfleet.gatewayUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "shopfleet.partName" (list . "gateway")) .Release.Namespace .Values.gateway.service.port }}
{{- end }}

{{/*
The plain settings of every shopfleet container (a map NAME: value): the chart's own
containers, and (through the operator's SHOPFLEET_OPERATOR_SERVICE_ENV) a dedicated shop's.
No credentials here: each gets its own.
*/}}
{{- define "shopfleet.commonSettings" -}}
{{- $env := dict
  "SHOPFLEET_BLOCKS" "dapr"
  "SHOPFLEET_DATA_DIR" "/data"
  "SHOPFLEET_LOG_LEVEL" (toString .Values.platform.logLevel)
  "SHOPFLEET_LOG_FORMAT" (toString .Values.platform.logFormat)
  "SHOPFLEET_CALL_TIMEOUT_S" (toString .Values.platform.callTimeoutSeconds)
  "SHOPFLEET_METRICS_HOST" "0.0.0.0"
  "SHOPFLEET_METRICS_PORT" (toString .Values.http.metricsPort) }}
{{- with .Values.platform.publicUrl }}
{{- $_ := set $env "SHOPFLEET_PUBLIC_URL" (toString .) }}
{{- end }}
{{- range $name, $value := .Values.platform.env }}
{{- $_ := set $env $name (toString $value) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/* Environment shared by every shopfleet container (gateway, services, migrations). */}}
{{- define "shopfleet.commonEnv" -}}
{{- range $name, $value := include "shopfleet.commonSettings" . | fromYaml }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: SHOPFLEET_PLATFORM_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "shopfleet.tokenSecret" . }}
      key: {{ .Values.platform.token.key }}
{{- end }}

{{/* A service's database URL, built from the connections Secret; call with (list $ "svc"). */}}
{{- define "shopfleet.databaseEnv" -}}
{{- $root := index . 0 }}
{{- $svc := index . 1 }}
{{- $pg := $root.Values.postgres -}}
- name: SHOPFLEET_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "shopfleet.connectionsSecret" $root }}
      key: postgres-password
- name: SHOPFLEET_{{ $svc | upper }}_DATABASE_URL
  value: {{ printf "postgresql+asyncpg://%s:$(SHOPFLEET_PG_PASSWORD)@%s:%v/%s%s%s" $pg.user (include "shopfleet.postgresHost" $root) $pg.port $pg.databasePrefix $svc (ternary (printf "?%s" $pg.options) "" (ne $pg.options "")) | quote }}
{{- end }}

{{/* Writable scratch space under a read-only root file system. */}}
{{- define "shopfleet.scratchVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- end }}

{{- define "shopfleet.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
{{- end }}

{{/* The service account of an app-id: may it read Secrets (the secret store's scopes)? */}}
{{- define "shopfleet.serviceAccount" -}}
{{- $root := index . 0 }}
{{- $readers := ($root.Files.Get "files/dapr/secretstore-kubernetes.yaml" | fromYaml).scopes | default list }}
{{- if has (index . 1) $readers }}{{ include "shopfleet.partName" (list $root "secrets") }}
{{- else }}{{ include "shopfleet.partName" (list $root "app") }}
{{- end }}
{{- end }}

{{/*
One of the platform's Dapr resources (files/dapr/<file>, carried verbatim from
components/) with what depends on the release filled in. dapr.yaml applies them; the
operator gets the Configuration's and the Resiliency's specs from the same definition, for
dedicated shops' namespaces. Usage: include "shopfleet.daprDoc" (list $ "resiliency.yaml").
*/}}
{{- define "shopfleet.daprDoc" -}}
{{- $ := index . 0 }}
{{- $file := index . 1 }}
{{- $doc := $.Files.Get (printf "files/dapr/%s" $file) | fromYaml }}
{{- $_ := set $doc.metadata "namespace" $.Release.Namespace }}
{{- $_ := set $doc.metadata "labels" (include "shopfleet.labels" (list $ "dapr") | fromYaml) }}
{{- if eq $doc.kind "Component" }}
{{- $items := list }}
{{- range $item := $doc.spec.metadata }}
{{- if hasKey $item "secretKeyRef" }}
{{- $_ := set $item.secretKeyRef "name" (include "shopfleet.connectionsSecret" $) }}
{{- end }}
{{- if eq $item.name "redisHost" }}
{{- $_ := set $item "value" (include "shopfleet.redisHost" $) }}
{{- else if and (eq $doc.spec.type "state.redis") (eq $item.name "enableTLS") }}
{{- $_ := set $item "value" (toString $.Values.redis.enableTLS) }}
{{- end }}
{{- if not (and (eq $item.name "redisPassword") (not $.Values.redis.auth)) }}
{{- $items = append $items $item }}
{{- end }}
{{- end }}
{{- $_ := set $doc.spec "metadata" $items }}
{{- else if eq $doc.kind "Configuration" }}
{{- if $.Values.dapr.otlpEndpoint }}
{{- $_ := set $doc.spec.tracing "otel" (dict "endpointAddress" $.Values.dapr.otlpEndpoint "isSecure" false "protocol" "grpc") }}
{{- end }}
{{- /* access-control policies name callers of the release's namespace */ -}}
{{- range $policy := $doc.spec.accessControl.policies }}
{{- $_ := set $policy "namespace" $.Release.Namespace }}
{{- end }}
{{- end }}
{{- toYaml $doc }}
{{- end }}

{{/* The operator's kopf peering object (cluster-wide, so named after the namespace too). */}}
{{- define "shopfleet.operatorPeering" -}}
{{- printf "%s-%s" .Release.Namespace (include "shopfleet.partName" (list . "operator")) | trimPrefix "-" | trunc 63 | trimSuffix "-" }}
{{- end }}
