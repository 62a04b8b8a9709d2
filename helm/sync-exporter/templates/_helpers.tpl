{{/*
Named templates of the sync-exporter chart.

"sync-exporter.container" and "sync-exporter.volumes" are the public ones: the Deployment
(standalone mode) and the Sync pods of another chart (sidecar mode) use the very same
container, so probes, flags, mounts and security settings cannot drift between the modes.
Each takes this chart's root context: from a parent chart that has this one as a dependency,
pass `.Subcharts.<name or alias>` (docs/kubernetes.md).
*/}}

{{- define "sync-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sync-exporter.fullname" -}}
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

{{- define "sync-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "sync-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sync-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sync-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sync-exporter.labels" -}}
helm.sh/chart: {{ include "sync-exporter.chart" . }}
{{ include "sync-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sync-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sync-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* global.imageRegistry (set by a parent chart for all its subcharts) wins over image.registry. */}}
{{- define "sync-exporter.image" -}}
{{- $repository := .Values.image.repository }}
{{- $registry := (.Values.global | default dict).imageRegistry | default .Values.image.registry }}
{{- if $registry }}
{{- $repository = printf "%s/%s" $registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "sync-exporter.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "sync-exporter.fullname" .)) }}
{{- end }}

{{/* The Secret mounted as password files, or "" when there is none. */}}
{{- define "sync-exporter.secretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else if .Values.credentials.passwords }}
{{- printf "%s-credentials" (include "sync-exporter.fullname" .) }}
{{- end }}
{{- end }}

{{/* Hash of the rendered config: a change rolls the standalone Deployment. */}}
{{- define "sync-exporter.configChecksum" -}}
{{- toYaml .Values.config | sha256sum }}
{{- end }}

{{- define "sync-exporter.configPath" -}}
/etc/sync-exporter/config/sync-exporter.yml
{{- end }}

{{/*
The exporter container as one list item ("- name: ..."), ready to go under a pod's
`containers` key (or `initContainers` when sidecar.native): indent it with nindent.
*/}}
{{- define "sync-exporter.container" -}}
{{- include "sync-exporter.containerSpec" . | indent 2 | trimPrefix "  " | printf "- %s" }}
{{- end }}

{{/* The exporter container as a mapping. */}}
{{- define "sync-exporter.containerSpec" -}}
name: {{ eq .Values.mode "sidecar" | ternary .Values.sidecar.containerName "sync-exporter" }}
image: {{ include "sync-exporter.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- if and (eq .Values.mode "sidecar") .Values.sidecar.native }}
restartPolicy: Always
{{- end }}
args:
  - --config.file={{ include "sync-exporter.configPath" . }}
  - --web.listen-address=:{{ .Values.containerPort }}
  - --log.format={{ .Values.log.format }}
  - --log.level={{ .Values.log.level }}
  {{- if include "sync-exporter.probeMode" . }}
  {{- /* /probe serves the nodes; /metrics then only the exporter's own metrics. */}}
  - --no-metrics.nodes
  {{- end }}
  {{- with .Values.extraArgs }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
env:
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  {{- with .Values.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  - name: btsync-metrics
    containerPort: {{ .Values.containerPort }}
    protocol: TCP
{{- with .Values.livenessProbe }}
livenessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.readinessProbe }}
readinessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: sync-exporter-config
    mountPath: /etc/sync-exporter/config
    readOnly: true
  {{- if include "sync-exporter.secretName" . }}
  - name: sync-exporter-credentials
    mountPath: {{ .Values.credentials.mountPath }}
    readOnly: true
  {{- end }}
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
The volumes the container mounts, as items of a pod's `volumes` list. The Secret is readable
by its group (fsGroup of the standalone pod); in sidecar mode the Sync pod's fsGroup is not
ours to set, so its files are world-readable inside the pod instead (0444): only containers
that mount the volume see them.
*/}}
{{- define "sync-exporter.volumes" -}}
- name: sync-exporter-config
  configMap:
    name: {{ include "sync-exporter.configMapName" . }}
{{- with include "sync-exporter.secretName" . }}
- name: sync-exporter-credentials
  secret:
    secretName: {{ . }}
    defaultMode: {{ eq $.Values.mode "sidecar" | ternary "292  # 0444" "288  # 0440" }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The cluster's Kubernetes version; kubeVersionOverride for offline renders (helm template). */}}
{{- define "sync-exporter.kubeVersion" -}}
{{- default .Capabilities.KubeVersion.Version .Values.kubeVersionOverride }}
{{- end }}

{{/* "true" when the nodes are scraped through /probe (standalone mode), else "". */}}
{{- define "sync-exporter.probeMode" -}}
{{- if and (eq .Values.mode "standalone") .Values.serviceMonitor.probe.enabled }}true{{ end }}
{{- end }}

{{/* The exporter's Service as seen from inside the cluster: scheme://name.namespace.svc:port */}}
{{- define "sync-exporter.serviceUrl" -}}
{{- printf "%s://%s.%s.svc:%v" (.Values.serviceMonitor.scheme | default "http") (include "sync-exporter.fullname" .) (include "sync-exporter.namespace" .) .Values.service.port }}
{{- end }}

{{/*
Where each alert's runbook_url points ("#<alert>" is appended): prometheusRule.runbookUrl, else
the exporter's own /runbook through its Service (standalone mode), else "" (keep the rule
file's value: in sidecar mode there is no Service to point at).
*/}}
{{- define "sync-exporter.runbookBase" -}}
{{- if .Values.prometheusRule.runbookUrl }}
{{- .Values.prometheusRule.runbookUrl }}
{{- else if eq .Values.mode "standalone" }}
{{- printf "%s/runbook" (include "sync-exporter.serviceUrl" .) }}
{{- end }}
{{- end }}

{{/* Scrape settings shared by every endpoint of the ServiceMonitor/PodMonitor ($ = the block). */}}
{{- define "sync-exporter.endpointSettings" -}}
{{- with .scheme }}
scheme: {{ . }}
{{- end }}
{{- with .tlsConfig }}
tlsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .honorLabels }}
honorLabels: true
{{- end }}
{{- end }}

{{/* The relabeling that sets `job`, shared by the ServiceMonitor and the PodMonitor. */}}
{{- define "sync-exporter.jobRelabeling" -}}
- action: replace
  targetLabel: job
  replacement: {{ .Values.jobLabel | quote }}
{{- end }}

{{/* Refuse value combinations the schema cannot express, with a message that says why. */}}
{{- define "sync-exporter.validate" -}}
{{- if and .Values.credentials.existingSecret .Values.credentials.passwords }}
{{- fail "credentials: set existingSecret or passwords, not both" }}
{{- end }}
{{- if eq .Values.mode "sidecar" }}
{{- if .Values.networkPolicy.enabled }}
{{- fail "networkPolicy.enabled is for mode standalone: in sidecar mode the policy would select the Sync pods and cut their own traffic" }}
{{- end }}
{{- if .Values.serviceMonitor.enabled }}
{{- fail "serviceMonitor.enabled is for mode standalone (there is no exporter Service in sidecar mode): use podMonitor.enabled" }}
{{- end }}
{{- if and .Values.podMonitor.enabled (not .Values.sidecar.podSelector) }}
{{- fail "podMonitor.enabled needs sidecar.podSelector: the labels of the Sync pods the exporter runs in" }}
{{- end }}
{{- else }}
{{- if .Values.podMonitor.enabled }}
{{- fail "podMonitor.enabled is for mode sidecar: in standalone mode use serviceMonitor.enabled" }}
{{- end }}
{{- end }}
{{- $probe := .Values.serviceMonitor.probe }}
{{- if and (include "sync-exporter.probeMode" .) .Values.serviceMonitor.enabled (ne ($probe.discovery | default "static") "sd") (gt (int .Values.replicaCount) 1) }}
{{- fail "serviceMonitor.probe.enabled with discovery static needs replicaCount 1: every replica would be probed for every node under the same instance label, so each series would come twice and the alert rules' joins on (job, instance, node, folder) would fail. Use serviceMonitor.probe.discovery: sd to run several replicas" }}
{{- end }}
{{- if and $probe.enabled (ne ($probe.discovery | default "static") "sd") (not $probe.targets) .Values.existingConfigMap }}
{{- fail "serviceMonitor.probe.targets must list the node names when existingConfigMap is used (the chart cannot read their names), or use serviceMonitor.probe.discovery: sd" }}
{{- end }}
{{- if and $probe.targets (eq ($probe.discovery | default "static") "sd") }}
{{- fail "serviceMonitor.probe.targets is for discovery static: with discovery sd every configured node is discovered through /sd" }}
{{- end }}
{{- $kube := include "sync-exporter.kubeVersion" . }}
{{- if and .Values.sidecar.native (eq .Values.mode "sidecar") (semverCompare "<1.29.0-0" $kube) }}
{{- fail (printf "sidecar.native needs Kubernetes 1.29 or later (native sidecar containers are on by default from 1.29), this is %s: below it the API server drops an init container's restartPolicy and the Sync pod would never start. Use sidecar.native: false (or set kubeVersionOverride when rendering offline for a newer cluster)" $kube) }}
{{- end }}
{{- end }}
