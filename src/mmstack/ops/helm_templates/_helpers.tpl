{{/* Labels of every object of the release. */}}
{{- define "mmstack.labels" -}}
app.kubernetes.io/part-of: {{ .Values.project }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{- end }}

{{/* The pods of one service; called with (dict "root" $ "name" $name "service" $svc). */}}
{{- define "mmstack.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end }}

{{- define "mmstack.serviceLabels" -}}
{{ include "mmstack.labels" .root }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .service.stack | default "core" }}
{{- end }}

{{/* "true" when a service gets a HorizontalPodAutoscaler (it then owns the replica count). */}}
{{- define "mmstack.autoscaled" -}}
{{- if and .enabled .autoscaleMax (gt (int .replicas) 0) }}true{{ end }}
{{- end }}

{{/* The probe timings; called with the service's probe. */}}
{{- define "mmstack.probeTimings" -}}
periodSeconds: {{ .periodSeconds | default 10 }}
timeoutSeconds: {{ .timeoutSeconds | default 5 }}
{{- end }}
