package leaks

import (
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

func sel(env string) *segv1.LabelSelector {
	return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
}

func testProfile(egress segv1.EgressIsolation) *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "company"},
		Spec: segv1.SegmentationProfileSpec{
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: sel("dev")}},
				{Name: "test", Namespaces: segv1.NamespaceSet{Selector: sel("test")}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: sel("prod")}, Isolation: segv1.IsolationNamespace},
			},
			Flows: []segv1.Flow{{From: "test", To: "prod", Ports: []segv1.NetworkPolicyPort{
				{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))}}}},
			SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{"ingress"}},
			Egress:           segv1.Egress{Isolation: egress},
		},
	}
}

// cluster returns the namespaces (with the labels Tierguard would have set)
// and Tierguard's own policies for the profile.
func cluster(t *testing.T, p *segv1.SegmentationProfile) (*render.Plan, []render.Namespace, []networkingv1.NetworkPolicy) {
	t.Helper()
	return clusterOf(t, p, []render.Namespace{
		{Name: "dev-a", Labels: map[string]string{"env": "dev"}},
		{Name: "test-a", Labels: map[string]string{"env": "test"}},
		{Name: "prod-a", Labels: map[string]string{"env": "prod"}},
		{Name: "prod-b", Labels: map[string]string{"env": "prod"}},
		{Name: "ingress", Labels: map[string]string{}},
		{Name: "other", Labels: map[string]string{}},
	})
}

// clusterOf is cluster over the given namespaces.
func clusterOf(t *testing.T, p *segv1.SegmentationProfile, raw []render.Namespace) (*render.Plan, []render.Namespace, []networkingv1.NetworkPolicy) {
	t.Helper()
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: raw})
	if err != nil {
		t.Fatal(err)
	}
	var namespaces []render.Namespace
	var policies []networkingv1.NetworkPolicy
	for _, ns := range raw {
		labels := map[string]string{render.MetadataNameLabel: ns.Name}
		for k, v := range ns.Labels {
			labels[k] = v
		}
		if g := plan.Lookup(ns.Name); g != nil {
			labels = render.MergedLabels(labels, g.Labels)
			policies = append(policies, *g.Policy)
		}
		namespaces = append(namespaces, render.Namespace{Name: ns.Name, Labels: labels})
	}
	return plan, namespaces, policies
}

func foreign(ns, name string, spec networkingv1.NetworkPolicySpec) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

// fromTier admits pods of a tier's namespaces on the given ports.
func fromTier(tier string, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicySpec {
	return networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
		From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{render.DefaultTierLabelKey: tier}}}},
		Ports: ports,
	}}}
}

func tcpPort(n int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(n))}
}

func namedPort(name string) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromString(name))}
}

// namedFlow is the profile's one flow, test to prod, on the named port
// https instead of 443.
var namedFlow = []segv1.NetworkPolicyPort{{Protocol: "TCP", Port: ptr.To(intstr.FromString("https"))}}

var allowAll = networkingv1.NetworkPolicySpec{
	PodSelector: metav1.LabelSelector{},
	Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
}

func TestFind(t *testing.T) {
	cases := []struct {
		name   string
		egress segv1.EgressIsolation
		// flow replaces the ports of the flow from test to prod (TCP 443).
		flow    []segv1.NetworkPolicyPort
		foreign []networkingv1.NetworkPolicy
		want    []Leak
	}{
		{name: "Tierguard's policies alone leak nothing"},
		{
			name:    "an allow-all opens prod-a to every tier and every ungoverned namespace",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "allow-all", allowAll)},
			want: []Leak{
				{FromTier: "dev", To: "prod-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "prod-a/allow-all"},
				{FromTier: "prod", To: "prod-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "prod-a/allow-all"},
				{FromTier: "test", To: "prod-a", Ports: "TCP/1-442, TCP/444-65535, UDP/all, SCTP/all", Policy: "prod-a/allow-all"},
				{FromNamespace: "other", To: "prod-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "prod-a/allow-all"},
			},
		},
		{
			name: "a namespaceSelector {} rule on one port leaks that port",
			foreign: []networkingv1.NetworkPolicy{foreign("dev-a", "metrics", networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(9090))}},
				}},
			})},
			want: []Leak{
				{FromTier: "prod", To: "dev-a", Ports: "TCP/9090", Policy: "dev-a/metrics"},
				{FromTier: "test", To: "dev-a", Ports: "TCP/9090", Policy: "dev-a/metrics"},
				{FromNamespace: "other", To: "dev-a", Ports: "TCP/9090", Policy: "dev-a/metrics"},
			},
		},
		{
			name: "a rule selecting another tier's label leaks from that tier only",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "from-dev", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{render.DefaultTierLabelKey: "dev"}}}}}},
			})},
			want: []Leak{{FromTier: "dev", To: "prod-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "prod-a/from-dev"}},
		},
		{
			name: "an ipBlock that can hold pod addresses is a leak",
			foreign: []networkingv1.NetworkPolicy{foreign("test-a", "world", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}}},
			})},
			want: []Leak{
				{FromTier: "dev", To: "test-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "test-a/world"},
				{FromTier: "prod", To: "test-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "test-a/world"},
				{FromNamespace: "other", To: "test-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "test-a/world"},
			},
		},
		{
			name: "an application's policy admitting pods of its own namespace is not a leak",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "web", networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}}}}},
			})},
		},
		{
			name: "a rule selecting one ungoverned namespace by name leaks from it only, also in egress policies",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "from-other", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "other"}}}}}},
				Egress: []networkingv1.NetworkPolicyEgressRule{{}},
			})},
			want: []Leak{{FromNamespace: "other", To: "prod-a", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "prod-a/from-other"}},
		},
		{
			name: "a policy that only narrows is not a leak",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "deny-all", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			})},
		},
		{
			name: "opening only what a flow allows is not a leak",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "https-from-test", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
						MatchLabels: map[string]string{render.DefaultTierLabelKey: "test"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(443))}},
				}},
			})},
		},
		{
			name:    "a flow on a named port does not hide TCP/22 opened between the same tiers",
			flow:    namedFlow,
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "ssh-from-test", fromTier("test", tcpPort(22)))},
			want:    []Leak{{FromTier: "test", To: "prod-a", Ports: "TCP/22", Policy: "prod-a/ssh-from-test"}},
		},
		{
			name:    "opening exactly a flow's named port is not a leak",
			flow:    namedFlow,
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "https-from-test", fromTier("test", namedPort("https")))},
		},
		{
			name:    "opening another named port than the flow's is a leak of that name",
			flow:    namedFlow,
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "ssh-from-test", fromTier("test", namedPort("ssh")))},
			want:    []Leak{{FromTier: "test", To: "prod-a", Ports: `TCP/"ssh"`, Policy: "prod-a/ssh-from-test"}},
		},
		{
			name:   "with egress isolation, TCP/22 opened on egress only is not a leak: the destination admits the named port only",
			egress: segv1.EgressIsolationTier,
			flow:   namedFlow,
			foreign: []networkingv1.NetworkPolicy{foreign("test-a", "ssh-to-prod", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}},
					Ports: []networkingv1.NetworkPolicyPort{tcpPort(22)},
				}},
			})},
		},
		{
			name: "every policy opening one of a leak's ports is named, not only the first port's",
			foreign: []networkingv1.NetworkPolicy{
				foreign("prod-a", "ssh-from-test", fromTier("test", tcpPort(22))),
				foreign("prod-a", "web-from-test", fromTier("test", tcpPort(8080))),
			},
			want: []Leak{
				{FromTier: "test", To: "prod-a", Ports: "TCP/22, TCP/8080", Policy: "prod-a/ssh-from-test"},
				{FromTier: "test", To: "prod-a", Ports: "TCP/22, TCP/8080", Policy: "prod-a/web-from-test"},
			},
		},
		{
			name: "adjacent ports opened by two policies merge into one range that names both",
			foreign: []networkingv1.NetworkPolicy{
				foreign("prod-a", "ssh-from-test", fromTier("test", tcpPort(22))),
				foreign("prod-a", "telnet-from-test", fromTier("test", tcpPort(23))),
			},
			want: []Leak{
				{FromTier: "test", To: "prod-a", Ports: "TCP/22-23", Policy: "prod-a/ssh-from-test"},
				{FromTier: "test", To: "prod-a", Ports: "TCP/22-23", Policy: "prod-a/telnet-from-test"},
			},
		},
		{
			name:   "with egress isolation, an egress allow-all leaks to ungoverned namespaces",
			egress: segv1.EgressIsolationTier,
			foreign: []networkingv1.NetworkPolicy{foreign("dev-a", "egress-all", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
			})},
			want: []Leak{{FromTier: "dev", To: "other", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "dev-a/egress-all"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testProfile(tc.egress)
			if tc.flow != nil {
				p.Spec.Flows[0].Ports = tc.flow
			}
			plan, namespaces, policies := cluster(t, p)
			got := Find(p, plan, namespaces, append(policies, tc.foreign...))
			if all := everyPair(t, p, enforced{plan: plan, namespaces: namespaces}, append(policies, tc.foreign...), nil); !slices.Equal(got, all) {
				t.Errorf("asking every pair gives other leaks:\n%s", lines(all))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d leaks:\n%v\nwant %d:\n%v", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("leak %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestRetainedNamespaceKeepsItsTier: a namespace that left every tier under
// leavePolicy Retain keeps its tier label, so the tier's own rules still
// admit it; a foreign policy that admits the tier by that label opens
// nothing the profile does not mean, while one admitting everyone still
// opens a hole from the namespaces outside the tier.
func TestRetainedNamespaceKeepsItsTier(t *testing.T) {
	p := testProfile(segv1.EgressIsolationNone)
	_, namespaces, policies := cluster(t, p)
	// dev-old left dev (env changed) while keeping Tierguard's labels.
	namespaces = append(namespaces, render.Namespace{Name: "dev-old", Labels: map[string]string{
		render.MetadataNameLabel: "dev-old", "env": "gone", render.DefaultTierLabelKey: "dev", render.ProfileLabel: "company"}})
	raw := make([]render.Namespace, len(namespaces))
	copy(raw, namespaces)
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: raw})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Retained) != 1 || plan.Retained[0] != "dev-old" {
		t.Fatalf("retained = %v, want [dev-old]", plan.Retained)
	}
	fromDev := foreign("dev-a", "from-dev", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
		From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{render.DefaultTierLabelKey: "dev"}}}},
	}}})
	if got := Find(p, plan, namespaces, append(policies, fromDev)); len(got) != 0 {
		t.Errorf("a policy admitting tier dev reports %v; the retained namespace is still of tier dev", got)
	}
	got := Find(p, plan, namespaces, append(policies, foreign("dev-a", "allow-all", allowAll)))
	var sources []string
	for _, l := range got {
		sources = append(sources, l.Source())
	}
	for _, s := range sources {
		if s == "namespace dev-old" {
			t.Errorf("the retained namespace is reported as a source outside dev: %v", got)
		}
	}
	if len(got) == 0 {
		t.Errorf("allow-all in dev-a opens no hole")
	}
}
