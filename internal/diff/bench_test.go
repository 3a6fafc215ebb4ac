package diff

import (
	"fmt"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/tierguard/tierguard/internal/render"
)

// BenchmarkSteadyPass measures one converged pass over 5,000 namespaces:
// plan, then compare with a cluster that already matches it.
func BenchmarkSteadyPass(b *testing.B) {
	const n = 5000
	in := render.Input{Profile: testProfile()}
	obs := Observed{NamespaceLabels: map[string]map[string]string{}, Policies: map[string]*networkingv1.NetworkPolicy{}, }
	seen := map[string]bool{}
	obs.Seen = func(ns string) bool { return seen[ns] }
	for i := range n {
		name, env := fmt.Sprintf("ns-%05d", i), []string{"dev", "prod"}[i%2]
		obs.NamespaceLabels[name] = enforcedLabels(env, env)
		in.Namespaces = append(in.Namespaces, render.Namespace{Name: name, Labels: obs.NamespaceLabels[name]})
	}
	p, err := render.Compute(in)
	if err != nil {
		b.Fatal(err)
	}
	for _, g := range p.Governed {
		pol := g.Policy.DeepCopy()
		pol.ResourceVersion = "1"
		obs.Policies[g.Name] = pol
		seen[g.Name] = true
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := render.Compute(in)
		if err != nil {
			b.Fatal(err)
		}
		if a := Compute(p, obs); len(a) != 0 {
			b.Fatalf("%d actions on a converged cluster", len(a))
		}
	}
}
