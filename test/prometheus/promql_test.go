package prometheus

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// promqlParser parses as a Prometheus server with default flags does.
var promqlParser = parser.NewParser(parser.Options{})

// grafanaIntervals are the dashboard's interval variables, replaced by a
// duration before parsing; the other variables ($profile, $job) sit inside
// string matchers, which parse as they are.
var grafanaIntervals = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h")

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promqlParser.ParseExpr(grafanaIntervals.Replace(expr))
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			t.Errorf("%q selects series without a metric name", expr)
		}
		names = append(names, name)
		return nil
	})
	return names
}

// usedMetrics returns every metric name the alerts and the dashboard
// query, with where each is used.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for alert, expr := range ruleExprs(t) {
		for _, n := range metricNames(t, expr) {
			used[n] = append(used[n], "alert "+alert)
		}
	}
	for panel, exprs := range dashboardExprs(t) {
		for _, expr := range exprs {
			for _, n := range metricNames(t, expr) {
				used[n] = append(used[n], "panel "+panel)
			}
		}
	}
	for _, where := range used {
		sort.Strings(where)
	}
	return used
}

// TestQueriesParse parses every query of the alerts and the dashboard.
func TestQueriesParse(t *testing.T) {
	used := usedMetrics(t)
	for _, want := range []string{"tierguard_profile_condition", "up", "controller_runtime_reconcile_time_seconds_bucket", "rest_client_requests_total"} {
		if _, ok := used[want]; !ok {
			t.Errorf("no alert or panel queries %s", want)
		}
	}
}
