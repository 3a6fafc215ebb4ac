package controller

import (
	"fmt"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// BenchmarkVerifyIsolation measures the leak check of a steady pass over
// 5,000 governed namespaces that each hold a policy of their own (an
// application's), the common case in a real cluster.
func BenchmarkVerifyIsolation(b *testing.B) {
	const n = 5000
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company", UID: "u-1"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": "dev"}}}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": "prod"}}}},
		},
	}}
	var (
		state   observation
		foreign []networkingv1.NetworkPolicy
	)
	state.input = render.Input{Profile: p}
	for i := range n {
		name, env := fmt.Sprintf("ns-%05d", i), []string{"dev", "prod"}[i%2]
		state.input.Namespaces = append(state.input.Namespaces, render.Namespace{Name: name,
			Labels: map[string]string{"env": env, "kubernetes.io/metadata.name": name, render.ProfileLabel: "company", "segmentation.tierguard.io/tier": env}})
		foreign = append(foreign, networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "app", ResourceVersion: "7"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}}}}},
			},
		})
	}
	plan, err := render.Compute(state.input)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("analysis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			analyzeIsolation(p, &memory.Profile{}, &state, outcome{plan: plan}, foreign)
		}
	})
	b.Run("remembered", func(b *testing.B) {
		mem := &memory.Profile{}
		analyzeIsolation(p, mem, &state, outcome{plan: plan}, foreign)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			analyzeIsolation(p, mem, &state, outcome{plan: plan}, foreign)
		}
	})
}
