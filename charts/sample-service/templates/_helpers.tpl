{{/* The release's full name: the release name, or <release>-sample-service. */}}
{{- define "sample-service.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sample-service.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sample-service.labels" -}}
{{ include "sample-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
platform.io/environment: {{ .Values.environment }}
{{- end -}}

{{/* image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "sample-service.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "sample-service.smokeImage" -}}
{{- if .Values.smokeTest.image.digest -}}
{{ .Values.smokeTest.image.repository }}@{{ .Values.smokeTest.image.digest }}
{{- else -}}
{{ .Values.smokeTest.image.repository }}:{{ .Values.smokeTest.image.tag }}
{{- end -}}
{{- end -}}

{{/* The public URL the helm test checks. */}}
{{- define "sample-service.publicURL" -}}
{{- if .Values.smokeTest.url -}}
{{ .Values.smokeTest.url }}
{{- else -}}
https://{{ .Values.route.hostname }}{{ trimSuffix "/" .Values.route.pathPrefix }}/
{{- end -}}
{{- end -}}

{{- define "sample-service.otelServiceName" -}}
{{- if .Values.otel.serviceName -}}
{{ .Values.otel.serviceName }}
{{- else -}}
{{ include "sample-service.fullname" . }}
{{- end -}}
{{- end -}}
