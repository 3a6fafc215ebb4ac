package cnp

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

// TestBoundariesHoldAgainstNamespaceOwners: with Tierguard's
// ClusterNetworkPolicies alone, an allow-all NetworkPolicy a namespace owner
// writes opens nothing across a tier boundary, while traffic inside a tier
// stays the owners' to decide.
func TestBoundariesHoldAgainstNamespaceOwners(t *testing.T) {
	sel := func(env string) *segv1.LabelSelector {
		return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
	}
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: sel("dev")}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: sel("prod")}, Isolation: segv1.IsolationNamespace},
		},
		Flows:            []segv1.Flow{{From: "dev", To: "prod", Ports: []segv1.NetworkPolicyPort{{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))}}}},
		SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{"ingress"}},
	}}
	in := render.Input{Profile: p, Namespaces: []render.Namespace{
		{Name: "dev-a", Labels: map[string]string{"env": "dev"}}, {Name: "dev-b", Labels: map[string]string{"env": "dev"}},
		{Name: "prod-a", Labels: map[string]string{"env": "prod"}}, {Name: "prod-b", Labels: map[string]string{"env": "prod"}},
		{Name: "ingress"},
	}}
	plan, err := render.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	cnps, err := render.ClusterNetworkPolicies(p, plan, render.DefaultCNPPriority)
	if err != nil {
		t.Fatal(err)
	}
	var namespaces []evaluate.Namespace
	for _, ns := range in.Namespaces {
		labels := ns.Labels
		if g := plan.Lookup(ns.Name); g != nil {
			labels = render.MergedLabels(ns.Labels, g.Labels)
		}
		namespaces = append(namespaces, evaluate.Namespace{Name: ns.Name, Labels: labels})
	}
	var owners []networkingv1.NetworkPolicy // every owner allows everything
	for _, ns := range []string{"dev-a", "dev-b", "prod-a", "prod-b"} {
		owners = append(owners, networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "allow-all"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}})
	}
	ownersDeny := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "dev-b", Name: "deny-all"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	for _, tc := range []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		from, to string
		port     int32
		want     bool
	}{
		{"across the boundary, despite an allow-all", owners, "dev-a", "prod-a", 8080, false},
		{"the flow's port", owners, "dev-a", "prod-a", 443, true},
		{"the flow is one way", owners, "prod-a", "dev-a", 443, false},
		{"from a shared namespace", owners, "ingress", "prod-b", 8080, true},
		{"inside a Tier-isolated tier: the owner's allow-all", owners, "dev-a", "dev-b", 8080, true},
		{"inside a Tier-isolated tier: the owner's deny-all", []networkingv1.NetworkPolicy{ownersDeny}, "dev-a", "dev-b", 8080, false},
		{"between namespaces of a Namespace-isolated tier, despite an allow-all", owners, "prod-a", "prod-b", 8080, false},
		{"inside one namespace of it", owners, "prod-a", "prod-a", 8080, true},
		{"from an ungoverned namespace", owners, "default", "prod-a", 8080, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := evaluate.New(evaluate.Cluster{Namespaces: namespaces, Policies: tc.policies, ClusterNetworkPolicies: cnps})
			if err := e.Err(); err != nil {
				t.Fatal(err)
			}
			v := e.Allowed(evaluate.PodEndpoint(evaluate.Pod{Namespace: tc.from, Name: "c"}),
				evaluate.PodEndpoint(evaluate.Pod{Namespace: tc.to, Name: "s"}), evaluate.Port{Protocol: corev1.ProtocolTCP, Port: tc.port})
			if v.Allowed != tc.want {
				t.Fatalf("%s -> %s TCP/%d: allowed %t, want %t: %s", tc.from, tc.to, tc.port, v.Allowed, tc.want, v.Reason)
			}
		})
	}
}
