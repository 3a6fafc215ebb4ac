package leaks

import (
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// benchCluster is 1,000 namespaces in the test profile's three tiers (prod
// isolated per namespace, so Tierguard writes a policy per prod namespace
// in ClusterNetworkPolicy mode), a shared namespace, a monitoring one and
// an ungoverned one, enforced in mode.
func benchCluster(b *testing.B, mode segv1.Enforcement) (*segv1.SegmentationProfile, enforced) {
	b.Helper()
	p := testProfile(segv1.EgressIsolationNone)
	p.Spec.Enforcement = mode
	p.Spec.SharedNamespaces.Names = append(p.Spec.SharedNamespaces.Names, "monitoring")
	raw := []render.Namespace{{Name: "ingress"}, {Name: "monitoring"}, {Name: "other"}}
	for i := range 997 {
		env := []string{"dev", "test", "prod"}[i%3]
		raw = append(raw, render.Namespace{Name: fmt.Sprintf("%s-%03d", env, i), Labels: map[string]string{"env": env}})
	}
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: raw})
	if err != nil {
		b.Fatal(err)
	}
	c := enforced{plan: plan}
	for _, ns := range raw {
		labels := map[string]string{render.MetadataNameLabel: ns.Name}
		for k, v := range ns.Labels {
			labels[k] = v
		}
		if g := plan.Lookup(ns.Name); g != nil {
			labels = render.MergedLabels(labels, g.Labels)
			if render.UsesNetworkPolicies(p) {
				c.policies = append(c.policies, *g.Policy)
			}
		}
		c.namespaces = append(c.namespaces, render.Namespace{Name: ns.Name, Labels: labels})
	}
	if render.UsesClusterNetworkPolicies(p) {
		if c.cnps, err = render.ClusterNetworkPolicies(p, plan, render.CNPPriority(p)); err != nil {
			b.Fatal(err)
		}
	}
	return p, c
}

// benchForeign is a handful of foreign ClusterNetworkPolicies an
// administrator may keep: a deny of a port range everywhere, monitoring
// accepted into every namespace (shared, so no hole), a team's Pass within
// its tier, a late Accept from dev into test (after Tierguard's band), a
// Baseline default deny, and one real hole: dev's debug pods into prod.
func benchForeign() []npav1beta1.ClusterNetworkPolicy {
	all := &metav1.LabelSelector{}
	monitoring := &metav1.LabelSelector{MatchLabels: map[string]string{render.MetadataNameLabel: "monitoring"}}
	denySMB := adminPolicy("deny-smb", npav1beta1.AdminTier, 10, "")
	denySMB.Spec.Subject.Namespaces = all
	denySMB.Spec.Ingress = []npav1beta1.ClusterNetworkPolicyIngressRule{{Name: "smb", Action: deny,
		From:      []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: all}},
		Protocols: []npav1beta1.ClusterNetworkPolicyProtocol{{TCP: &npav1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: &npav1beta1.Port{Number: 445}}}}}}
	scrape := adminPolicy("monitoring", npav1beta1.AdminTier, 50, "")
	scrape.Spec.Subject.Namespaces = all
	scrape.Spec.Ingress = []npav1beta1.ClusterNetworkPolicyIngressRule{{Name: "scrape", Action: accept,
		From: []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: monitoring}}}}
	baselineDeny := adminPolicy("default-deny", npav1beta1.BaselineTier, 10, "")
	baselineDeny.Spec.Subject.Namespaces = all
	baselineDeny.Spec.Ingress = []npav1beta1.ClusterNetworkPolicyIngressRule{{Name: "deny", Action: deny,
		From: []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: all}}}}
	return []npav1beta1.ClusterNetworkPolicy{
		denySMB, scrape, baselineDeny,
		ingressFrom(adminPolicy("team-test", npav1beta1.AdminTier, 150, "test"), pass, "test", nil),
		ingressFrom(adminPolicy("late-dev-test", npav1beta1.AdminTier, 900, "test"), accept, "dev", nil),
		ingressFrom(adminPolicy("debug", npav1beta1.AdminTier, 100, "prod"), accept, "dev",
			&metav1.LabelSelector{MatchLabels: map[string]string{"app": "debug"}}),
	}
}

// BenchmarkFindWith measures the analysis the controller runs on each
// change: with nothing but Tierguard's policies (which must cost nothing),
// and with a handful of foreign ClusterNetworkPolicies.
func BenchmarkFindWith(b *testing.B) {
	for _, mode := range modes {
		p, c := benchCluster(b, mode)
		b.Run(string(mode)+"/only-tierguard", func(b *testing.B) {
			for b.Loop() {
				if got := FindWith(p, c.plan, c.namespaces, c.policies, c.cnps); got != nil {
					b.Fatalf("%d leaks", len(got))
				}
			}
		})
		cnps := append(slices.Clone(c.cnps), benchForeign()...)
		var leaks int
		b.Run(string(mode)+"/foreign-cnps", func(b *testing.B) {
			for b.Loop() {
				leaks = len(FindWith(p, c.plan, c.namespaces, c.policies, cnps))
			}
			b.ReportMetric(float64(leaks), "leaks")
		})
		allowAllProd := append(slices.Clone(c.policies), foreign("prod-002", "allow-all", allowAll))
		// A namespace owner's policy in each of 100 dev namespaces,
		// admitting its own tier's monitoring scrape on one port.
		appPolicies := slices.Clone(c.policies)
		for i := 0; i < 300; i += 3 {
			appPolicies = append(appPolicies, foreign(fmt.Sprintf("dev-%03d", i), "scrape", fromTier("test", tcpPort(9090))))
		}
		b.Run(string(mode)+"/foreign-nps", func(b *testing.B) {
			for b.Loop() {
				leaks = len(FindWith(p, c.plan, c.namespaces, appPolicies, c.cnps))
			}
			b.ReportMetric(float64(leaks), "leaks")
		})
		b.Run(string(mode)+"/foreign-cnps-and-np", func(b *testing.B) {
			for b.Loop() {
				leaks = len(FindWith(p, c.plan, c.namespaces, allowAllProd, cnps))
			}
			b.ReportMetric(float64(leaks), "leaks")
		})
	}
}
