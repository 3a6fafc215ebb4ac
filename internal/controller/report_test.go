package controller

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/client-go/tools/events"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/memory"
)

// series returns the values of a metric's series for one profile, keyed by
// their other label values.
func series(t *testing.T, name, profile string) map[string]float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var key []string
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "profile" {
					match = l.GetValue() == profile
					continue
				}
				key = append(key, l.GetValue())
			}
			if match {
				out[strings.Join(key, ",")] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestReportMetrics(t *testing.T) {
	r := &ProfileReconciler{Recorder: events.NewFakeRecorder(100)}
	mem := &memory.Profile{}
	p := statusProfile(segv1.ModeEnforce)
	p.Name = "report-test"
	found := []leaks.Leak{{FromTier: "dev", To: "prod-a", Ports: "TCP/22", Policy: "prod-a/ssh"}}

	r.report(p, mem, outcome{plan: statusPlan(), isolation: isolationResult{known: true, leaks: found}})
	if got := series(t, "tierguard_isolation_leaks", p.Name)[""]; got != 1 {
		t.Fatalf("leaks gauge %v, want 1", got)
	}

	// A pass that cannot verify (an unrelated write failed) keeps the last
	// verified figure rather than reporting no holes.
	r.report(p, mem, outcome{plan: statusPlan(), actions: []diff.Action{labelAction},
		writes: writeResult{states: []writeState{writeFailed}, errs: map[int]error{0: errors.New("refused")}}})
	if got := series(t, "tierguard_isolation_leaks", p.Name)[""]; got != 1 {
		t.Fatalf("leaks gauge %v while isolation is unknown, want the last verified 1", got)
	}

	// A renamed tier leaves no series behind.
	if got := series(t, "tierguard_governed_namespaces", p.Name); got["dev"] != 1 || got["prod"] != 1 {
		t.Fatalf("governed namespaces: %v", got)
	}
	p.Spec.Tiers[0].Name = "development"
	plan := statusPlan()
	plan.Governed[0].Tier = "development"
	r.report(p, mem, outcome{plan: plan})
	got := series(t, "tierguard_governed_namespaces", p.Name)
	if _, stale := got["dev"]; stale || got["development"] != 1 || got["prod"] != 1 {
		t.Fatalf("governed namespaces after renaming dev: %v, want development and prod only", got)
	}
}
