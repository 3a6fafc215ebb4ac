package diff_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// BenchmarkConvergedPass plans the sample profile over N governed
// namespaces and compares the plan with a cluster that already holds it:
// the CPU a steady pass spends in render and diff. ns/op divided by N is
// the cost per governed namespace, which should stay flat as N grows.
func BenchmarkConvergedPass(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "segmentation_v1alpha1_segmentationprofile.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	profile := &segv1.SegmentationProfile{}
	if err := yaml.Unmarshal(data, profile); err != nil {
		b.Fatal(err)
	}
	profile.UID = "profile-uid"
	for _, n := range []int{1000, 5000, 20000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			in, obs := converged(b, profile, n)
			mem := (&memory.Memory{}).Profile(profile.Name)
			mem.SeenPolicies(profile.Name, obs.Policies)
			obs.Seen, obs.PolicyMatches, obs.LabelsEnforced = mem.Seen, mem.PolicyMatches, mem.LabelsEnforced
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				plan, err := render.Compute(in)
				if err != nil {
					b.Fatal(err)
				}
				mem.Prune(plan)
				if actions := diff.Compute(plan, obs); len(actions) != 0 {
					b.Fatalf("%d actions on a converged cluster", len(actions))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/namespace")
		})
	}
}

// converged returns n governed namespaces (and 300 unrelated ones) as the
// cache would show them once the plan is enforced.
func converged(b *testing.B, profile *segv1.SegmentationProfile, n int) (render.Input, diff.Observed) {
	tiers := []string{"dev", "test", "prod"}
	var nss []render.Namespace
	for i := range n {
		name := fmt.Sprintf("%s-%05d", tiers[i%3], i)
		nss = append(nss, render.Namespace{Name: name, Labels: map[string]string{
			render.MetadataNameLabel: name, "env": tiers[i%3], "team": fmt.Sprintf("team-%d", i%50)}})
	}
	for i := range 300 {
		name := fmt.Sprintf("other-%04d", i)
		nss = append(nss, render.Namespace{Name: name, Labels: map[string]string{render.MetadataNameLabel: name}})
	}
	in := render.Input{Profile: profile, Namespaces: nss}
	plan, err := render.Compute(in)
	if err != nil {
		b.Fatal(err)
	}
	obs := diff.Observed{NamespaceLabels: map[string]map[string]string{}, NamespaceVersions: map[string]string{},
		Policies: map[string]*networkingv1.NetworkPolicy{}}
	for i, ns := range nss {
		labels := ns.Labels
		if g := plan.Lookup(ns.Name); g != nil {
			labels = render.MergedLabels(ns.Labels, g.Labels)
			pol := g.Policy.DeepCopy()
			pol.ResourceVersion, pol.UID = fmt.Sprint(i+1), types.UID(fmt.Sprintf("uid-%d", i))
			obs.Policies[ns.Name] = pol
		}
		nss[i].Labels = labels
		obs.NamespaceLabels[ns.Name] = labels
		obs.NamespaceVersions[ns.Name] = fmt.Sprint(i + 1)
	}
	return in, obs
}
