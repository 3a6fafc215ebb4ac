package prometheus

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
)

// ruleTests is a rule unit test file in promtool's format (`promtool test
// rules`), the parts of it these tests use: input series in promtool's
// expanding notation, and the alerts expected firing at a time. As with
// promtool, exp_labels hold every label of an alert but alertname, and an
// empty exp_alerts says that the alert must not fire; unlike promtool,
// annotations are compared only where exp_annotations are given (every
// firing alert's summary and description must name its profile, though).
type ruleTests struct {
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []struct {
		Name        string         `yaml:"name"`
		Interval    model.Duration `yaml:"interval"`
		InputSeries []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTests []alertCase `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

type alertCase struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	} `yaml:"exp_alerts"`
}

// loadAlertingRules reads the PrometheusRule's groups as Prometheus reads a
// rule file, validation included, into rules ready to evaluate.
func loadAlertingRules(t *testing.T) []*rules.AlertingRule {
	t.Helper()
	groups, errs := rulefmt.Parse(ruleSpec(t), false, model.UTF8Validation, promqlParser, promslog.NewNopLogger())
	if len(errs) > 0 {
		t.Fatalf("%s: %v", alertsFile, errs)
	}
	var out []*rules.AlertingRule
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			expr, err := promqlParser.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("alert %s: %v", r.Alert, err)
			}
			out = append(out, rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
				labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, promslog.NewNopLogger()))
		}
	}
	return out
}

// TestAlerts runs testdata/alerts_test.yaml against the alerts of
// config/prometheus/alerts.yaml, and requires each alert to have a case
// where it fires and one where it must not.
func TestAlerts(t *testing.T) {
	var file ruleTests
	readYAML(t, filepath.Join("testdata", "alerts_test.yaml"), &file)
	evalInterval := time.Duration(file.EvaluationInterval)
	if evalInterval == 0 {
		evalInterval = time.Minute
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tg := range file.Tests {
		t.Run(tg.Name, func(t *testing.T) {
			interval := time.Duration(tg.Interval)
			if interval == 0 {
				interval = time.Minute
			}
			load := []string{fmt.Sprintf("load %s", model.Duration(interval))}
			for _, s := range tg.InputSeries {
				load = append(load, "  "+s.Series+" "+s.Values)
			}
			storage := promqltest.LoadedStorage(t, strings.Join(load, "\n"))
			engine := promqltest.NewTestEngine(t, false, 0, 1_000_000)
			query := rules.EngineQueryFunc(engine, storage)

			alerting := loadAlertingRules(t)
			cases := slices.Clone(tg.AlertRuleTests)
			sort.SliceStable(cases, func(i, j int) bool { return cases[i].EvalTime < cases[j].EvalTime })
			var last time.Duration
			for _, c := range cases {
				last = max(last, time.Duration(c.EvalTime))
			}
			next := 0
			// Evaluate every rule at every interval, as a rule group
			// does, so `for` holds as it does in Prometheus.
			for ts := time.Duration(0); ts <= last; ts += evalInterval {
				at := time.Unix(0, 0).UTC().Add(ts)
				for _, r := range alerting {
					if _, err := r.Eval(context.Background(), 0, at, query, nil, 0); err != nil {
						t.Fatalf("evaluate %s at %s: %v", r.Name(), model.Duration(ts), err)
					}
				}
				for ; next < len(cases) && time.Duration(cases[next].EvalTime) < ts+evalInterval; next++ {
					c := cases[next]
					if time.Duration(c.EvalTime) != ts {
						t.Fatalf("eval_time %s of %s is not a multiple of the evaluation interval %s", c.EvalTime, c.Alertname, model.Duration(evalInterval))
					}
					if checkAlerts(t, alerting, c) {
						fires[c.Alertname] = true
					} else {
						quiet[c.Alertname] = true
					}
				}
			}
		})
	}
	for _, r := range loadAlertingRules(t) {
		if !fires[r.Name()] {
			t.Errorf("alert %s: no case where it fires", r.Name())
		}
		if !quiet[r.Name()] {
			t.Errorf("alert %s: no case where it must not fire", r.Name())
		}
	}
}

// checkAlerts compares the firing alerts of c's rule with the expected
// ones; it says whether any was expected.
func checkAlerts(t *testing.T, alerting []*rules.AlertingRule, c alertCase) bool {
	t.Helper()
	i := slices.IndexFunc(alerting, func(r *rules.AlertingRule) bool { return r.Name() == c.Alertname })
	if i < 0 {
		t.Errorf("no alert %s in %s", c.Alertname, alertsFile)
		return len(c.ExpAlerts) > 0
	}
	var got, want []string
	for _, a := range alerting[i].ActiveAlerts() {
		if a.State != rules.StateFiring {
			continue
		}
		got = append(got, a.Labels.String())
		profile := a.Labels.Get("profile")
		for _, name := range []string{"summary", "description"} {
			text := a.Annotations.Get(name)
			if text == "" || !strings.Contains(text, profile) {
				t.Errorf("%s at %s: annotation %s %q does not name profile %q", c.Alertname, c.EvalTime, name, text, profile)
			}
		}
		for _, exp := range c.ExpAlerts {
			if labels.FromMap(withName(exp.ExpLabels, c.Alertname)).String() != a.Labels.String() {
				continue
			}
			for k, v := range exp.ExpAnnotations {
				if a.Annotations.Get(k) != v {
					t.Errorf("%s at %s: annotation %s = %q, want %q", c.Alertname, c.EvalTime, k, a.Annotations.Get(k), v)
				}
			}
		}
	}
	for _, exp := range c.ExpAlerts {
		want = append(want, labels.FromMap(withName(exp.ExpLabels, c.Alertname)).String())
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s at %s: firing\n  %s\nwant\n  %s", c.Alertname, c.EvalTime, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return len(c.ExpAlerts) > 0
}

func withName(ls map[string]string, alertname string) map[string]string {
	out := map[string]string{labels.AlertName: alertname}
	for k, v := range ls {
		out[k] = v
	}
	return out
}
