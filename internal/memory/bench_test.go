package memory

import (
	"fmt"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/render"
)

// BenchmarkSteadyPass measures one converged pass over 5,000 namespaces:
// plan, then compare with a cluster that already matches it, comparing every
// policy in full ("compare") or answering from the memory ("remembered").
func BenchmarkSteadyPass(b *testing.B) {
	b.Run("compare", func(b *testing.B) { benchmarkSteadyPass(b, nil) })
	b.Run("remembered", func(b *testing.B) { benchmarkSteadyPass(b, &Profile{}) })
}

func benchmarkSteadyPass(b *testing.B, mem *Profile) {
	const n = 5000
	profile := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company", UID: "uid-1"},
		Spec: segv1.SegmentationProfileSpec{LeavePolicy: segv1.LeavePolicyRelease, Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": "dev"}}}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": "prod"}}}},
		}}}
	in := render.Input{Profile: profile}
	obs := diff.Observed{NamespaceLabels: map[string]map[string]string{}, Policies: map[string]*networkingv1.NetworkPolicy{}}
	for i := range n {
		name, env := fmt.Sprintf("ns-%05d", i), []string{"dev", "prod"}[i%2]
		obs.NamespaceLabels[name] = map[string]string{"env": env, render.ProfileLabel: "company", render.DefaultTierLabelKey: env}
		in.Namespaces = append(in.Namespaces, render.Namespace{Name: name, Labels: obs.NamespaceLabels[name]})
	}
	p, err := render.Compute(in)
	if err != nil {
		b.Fatal(err)
	}
	seen := &Profile{}
	for _, g := range p.Governed {
		pol := g.Policy.DeepCopy()
		pol.UID, pol.ResourceVersion = types.UID("uid-"+g.Name), "1"
		obs.Policies[g.Name] = pol
		seen.MarkSeen(g.Name, true)
	}
	obs.Seen = seen.Seen
	if mem != nil {
		obs.PolicyMatches = mem.PolicyMatches
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := render.Compute(in)
		if err != nil {
			b.Fatal(err)
		}
		if a := diff.Compute(p, obs); len(a) != 0 {
			b.Fatalf("%d actions on a converged cluster", len(a))
		}
	}
}
