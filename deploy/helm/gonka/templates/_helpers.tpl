{{/* Name prefix of every object: <release>-gonka, or the release name when it already says gonka. */}}
{{- define "gonka.fullname" -}}
{{- if contains "gonka" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-gonka" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "gonka.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: gonka
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include "gonka.selector" (list . "gateway"). */}}
{{- define "gonka.selector" -}}
app.kubernetes.io/name: gonka
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Image reference: include "gonka.image" (list . .Values.gateway.image.name). */}}
{{- define "gonka.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" $root.Values.image.prefix (index . 1) (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* Name of the Secret with database-url, admin-token, mlnode-token, metrics-token. */}}
{{- define "gonka.secretName" -}}
{{- if .Values.secret.create -}}
{{- include "gonka.fullname" . -}}
{{- else -}}
{{- required "secret.existingName is required when secret.create is false" .Values.secret.existingName -}}
{{- end -}}
{{- end -}}

{{/* OTEL_* environment entries of a container, from .Values.otel (nothing when endpoint is empty). */}}
{{- define "gonka.otelEnv" -}}
{{- with .Values.otel }}
{{- if .endpoint }}
- {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ .endpoint | quote }}}
{{- if .sampler }}
- {name: OTEL_TRACES_SAMPLER, value: {{ .sampler | quote }}}
{{- end }}
{{- if .samplerArg }}
- {name: OTEL_TRACES_SAMPLER_ARG, value: {{ .samplerArg | quote }}}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
