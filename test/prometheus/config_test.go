package prometheus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// configDir is config/prometheus, relative to this package.
var configDir = filepath.Join("..", "..", "config", "prometheus")

// alertsFile holds the PrometheusRule.
var alertsFile = filepath.Join(configDir, "alerts.yaml")

// prometheusRule is the part of a PrometheusRule the tests read.
type prometheusRule struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

// ruleSpec returns the spec of the PrometheusRule in alerts.yaml, which is a
// Prometheus rule file.
func ruleSpec(t *testing.T) []byte {
	t.Helper()
	var obj map[string]any
	readYAML(t, alertsFile, &obj)
	spec, err := yaml.Marshal(obj["spec"])
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// ruleExprs returns the expressions of the PrometheusRule's rules, by alert.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	var rule prometheusRule
	readYAML(t, alertsFile, &rule)
	exprs := map[string]string{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	return exprs
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// dashboardExprs returns the PromQL of every panel of dashboard.json, by
// panel title.
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(configDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	exprs := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs[p.Title] = append(exprs[p.Title], tg.Expr)
		}
	}
	if len(exprs) == 0 {
		t.Fatal("dashboard.json has no panel with a query")
	}
	return exprs
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
