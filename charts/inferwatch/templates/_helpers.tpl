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

{{/*
Labels of a monitoring object (ServiceMonitor, PrometheusRule, dashboard ConfigMap), called with
(list $ctx $extra): the chart's own labels win over the object's $extra labels, which win over the
operator-wide monitoring.labels (the labels a Prometheus or Grafana sidecar selects by).
*/}}
{{- define "inferwatch.monitoringLabels" -}}
{{- $ctx := index . 0 -}}
{{- $extra := (index . 1) | default (dict) -}}
{{- $own := include "inferwatch.labels" $ctx | fromYaml -}}
{{- toYaml (merge $own (deepCopy $extra) (deepCopy $ctx.Values.monitoring.labels)) -}}
{{- end -}}

{{/* Annotations of a monitoring object, called with (list $ctx $fixed); empty when there are none. */}}
{{- define "inferwatch.monitoringAnnotations" -}}
{{- $ctx := index . 0 -}}
{{- $fixed := (index . 1) | default (dict) -}}
{{- $a := merge (deepCopy $fixed) (deepCopy $ctx.Values.monitoring.annotations) -}}
{{- if $a }}{{ toYaml $a }}{{ end -}}
{{- end -}}
