package main

// The chart's files that do not come from an object of config/.

const chartYAML = header + `apiVersion: v2
name: tierguard
description: >-
  Tierguard: namespace segmentation for Kubernetes. SegmentationProfiles put
  namespaces into tiers and the manager keeps each tier's NetworkPolicies in
  place. Generated from config/ (kustomize); installs what config/default
  installs, in the release namespace.
type: application
# The chart's version follows the operator's (the OLM bundle's CSV).
version: %s
appVersion: "%s"
# ValidatingAdmissionPolicy is GA (admissionregistration.k8s.io/v1) from 1.30.
kubeVersion: ">= 1.30.0-0"
home: https://github.com/tierguard/tierguard
sources:
- https://github.com/tierguard/tierguard
keywords:
- networkpolicy
- segmentation
- multi-tenancy
`

const helmignore = header + `.DS_Store
*.swp
*.bak
*.tmp
*.orig
*~
`

const helpers = header + `{{/*
Labels Helm's objects carry besides config/default's (app.kubernetes.io/part-of
and each object's own): who manages the object, the release and the chart.
Selectors are config/default's, so they never change on upgrade.
*/}}
{{- define "tierguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
`

// assignerRole is config/rbac's ClusterRole that people and pipelines are
// bound to in order to move namespaces between tiers.
const assignerRole = namePrefix + "namespace-assigner"

const assignerBinding = `{{- if .Values.rbac.namespaceAssigners }}
# Binds rbac.namespaceAssigners to the ClusterRole ` + assignerRole + `
# (the verb assign on segmentationprofiles): who may move namespaces between
# tiers past the admission policy.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ` + assignerRole + `
  labels:
    app.kubernetes.io/part-of: tierguard
    {{- include "tierguard.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ` + assignerRole + `
subjects:
  {{- toYaml .Values.rbac.namespaceAssigners | nindent 2 }}
{{- end }}
`

// valuesTemplate takes the image repository and tag, replicas, resources
// and metrics port of config/default.
const valuesTemplate = header + `# Tierguard's chart. With these values it installs what
# ` + "`kustomize build config/default`" + ` installs, in the release namespace (except the
# Namespace itself: see namespace.create). Names keep the prefix tierguard-,
# whatever the release's name: one installation per cluster.

manager:
  image:
    repository: %s
    tag: %s
    # Empty: Kubernetes' default (Always for the tag latest, else IfNotPresent).
    pullPolicy: ""
  # Two replicas, one leader, spread over nodes: a standby takes the lease
  # within seconds when the leader's node goes.
  replicas: %d
  %s  leaderElection:
    # --leader-elect: only the leader writes. Keep it on with more than one
    # replica.
    enable: true
    # --leader-election-namespace; empty: the release namespace. The chart's
    # leader election Role is in the release namespace: elsewhere, grant
    # leases there yourself.
    namespace: ""
  # --zap-log-level: debug, info, error, or an integer (more verbose the
  # higher); empty: info.
  logLevel: ""
  # The manager's tuning flags (cmd/manager); empty: the manager's default.
  # --kube-api-qps (default 1000) and --kube-api-burst (2000): client-side
  # limits of queries to the API server.
  kubeAPIQPS: ""
  kubeAPIBurst: ""
  # --apply-concurrency (64): writes in flight at once within one reconcile.
  applyConcurrency: ""
  # --max-concurrent-reconciles (2): profiles reconciled at once.
  maxConcurrentReconciles: ""
  # --sync-period (10h): how often every cached object is reconciled again.
  syncPeriod: ""
  # --enable-http2 for the metrics server (off: HTTP/2 Rapid Reset CVEs).
  enableHTTP2: false
  # --pprof-bind-address, e.g. ":6060"; empty: off.
  pprofBindAddress: ""
  # --openreports: write OpenReports (openreports.io/v1alpha1), a
  # ClusterReport per profile and a Report per governed namespace. auto: on
  # when the API server serves the OpenReports CRDs at install or upgrade;
  # true or false.
  openReports: auto
  # More arguments, passed last, e.g. ["--zap-encoder=console"].
  extraArgs: []
  podDisruptionBudget:
    # Keeps one replica through voluntary disruptions (minAvailable: 1). Turn
    # it off with replicas: 1, or node drains wait for ever.
    enable: true

namespace:
  # Create the release namespace with the labels config/default gives it
  # (Pod Security restricted, enforced). Leave it off with helm install
  # --create-namespace (Helm then creates it, without labels) or when the
  # namespace exists; turn it on for a namespace that does not exist yet.
  create: false

crd:
  # Install and upgrade the SegmentationProfile CRD (it is under templates/,
  # so helm upgrade updates it).
  enable: true
  # Keep the CRD, and so every SegmentationProfile, on helm uninstall
  # (helm.sh/resource-policy: keep).
  keep: true

rbac:
  # Subjects bound to the ClusterRole tierguard-namespace-assigner (the verb
  # assign on segmentationprofiles): who may move namespaces between tiers.
  # For example:
  #   - kind: Group
  #     apiGroup: rbac.authorization.k8s.io
  #     name: platform-admins
  #   - kind: ServiceAccount
  #     name: argocd-application-controller
  #     namespace: argocd
  namespaceAssigners: []

metrics:
  # The manager's HTTPS metrics endpoint (authenticated: a token allowed to
  # get /metrics, ClusterRole tierguard-metrics-reader) and its Service.
  # Off: --metrics-bind-address=0.
  enable: true
  # Port of the endpoint, the Service and the NetworkPolicy that admits
  # scrapes.
  port: %d

prometheus:
  # A Prometheus Operator ServiceMonitor (config/prometheus); needs the
  # monitoring.coreos.com CRDs and metrics.enable.
  enable: false

networkPolicy:
  # NetworkPolicies isolating the release namespace (config/network-policy):
  # only the manager's egress to the API server and DNS, and scrapes of its
  # metrics from namespaces labelled metrics=enabled or named monitoring.
  enable: true

admissionPolicy:
  # The ValidatingAdmissionPolicies that protect tier labels
  # (config/admission-policy). Off: the manager is started with
  # --admission-policies= and adopts none.
  enable: true
`
