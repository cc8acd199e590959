{{/* Names and labels shared by every template. */}}
{{- define "inferwatch.name" -}}inferwatch-operator{{- end -}}

{{- define "inferwatch.labels" -}}
app.kubernetes.io/name: inferwatch-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: inferwatch
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "inferwatch.selectorLabels" -}}
app.kubernetes.io/name: inferwatch-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "inferwatch.tag" -}}{{ .tag | default $.appVersion }}{{- end -}}
