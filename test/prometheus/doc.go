// Package prometheus tests config/prometheus: the alerts of its
// PrometheusRule against series in the way `promtool test rules` does
// (rules_test.go, cases in testdata/alerts_test.yaml), the rule and the
// ServiceMonitor against the CRDs of prometheus-operator v0.85.0
// (testdata/crds, copied from its example/prometheus-operator-crd), and that
// every metric the alerts and the Grafana dashboard query is served by a
// manager running against a local control plane (metrics_test.go).
//
// It is its own module so that the Prometheus server's dependencies stay out
// of Tierguard's go.mod; it builds Tierguard through a replace directive.
package prometheus
