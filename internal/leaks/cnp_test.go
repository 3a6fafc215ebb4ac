package leaks

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

var modes = []segv1.Enforcement{segv1.EnforcementNetworkPolicy, segv1.EnforcementClusterNetworkPolicy, segv1.EnforcementBoth}

// enforced is the cluster of the profile in one enforcement mode, as the
// controller gives it to FindWith: the namespaces with Tierguard's labels,
// and Tierguard's planned policies of the kinds the mode writes.
type enforced struct {
	plan       *render.Plan
	namespaces []render.Namespace
	policies   []networkingv1.NetworkPolicy
	cnps       []npav1beta1.ClusterNetworkPolicy
}

func enforce(t *testing.T, p *segv1.SegmentationProfile, mode segv1.Enforcement) enforced {
	t.Helper()
	p.Spec.Enforcement = mode
	plan, namespaces, policies := cluster(t, p)
	c := enforced{plan: plan, namespaces: namespaces}
	if render.UsesNetworkPolicies(p) {
		c.policies = policies
	}
	if render.UsesClusterNetworkPolicies(p) {
		cnps, err := render.ClusterNetworkPolicies(p, plan, render.CNPPriority(p))
		if err != nil {
			t.Fatal(err)
		}
		c.cnps = cnps
	}
	return c
}

func envSel(env string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"env": env}}
}

// adminPolicy is a foreign ClusterNetworkPolicy whose subject is the
// namespaces of env subject.
func adminPolicy(name string, tier npav1beta1.Tier, priority int32, subject string) npav1beta1.ClusterNetworkPolicy {
	return npav1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: npav1beta1.ClusterNetworkPolicySpec{
		Tier: tier, Priority: priority, Subject: npav1beta1.ClusterNetworkPolicySubject{Namespaces: envSel(subject)}}}
}

// ingressFrom adds a rule for the pods (all when pods is nil) of the
// namespaces of env from.
func ingressFrom(c npav1beta1.ClusterNetworkPolicy, action npav1beta1.ClusterNetworkPolicyRuleAction, from string, pods *metav1.LabelSelector) npav1beta1.ClusterNetworkPolicy {
	peer := npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: envSel(from)}
	if from == "" {
		peer.Namespaces = &metav1.LabelSelector{}
	}
	if pods != nil {
		peer = npav1beta1.ClusterNetworkPolicyIngressPeer{Pods: &npav1beta1.NamespacedPod{NamespaceSelector: *peer.Namespaces, PodSelector: *pods}}
	}
	c.Spec.Ingress = append(c.Spec.Ingress, npav1beta1.ClusterNetworkPolicyIngressRule{
		Name: fmt.Sprintf("rule-%d", len(c.Spec.Ingress)), Action: action, From: []npav1beta1.ClusterNetworkPolicyIngressPeer{peer}})
	return c
}

const (
	accept = npav1beta1.ClusterNetworkPolicyRuleActionAccept
	deny   = npav1beta1.ClusterNetworkPolicyRuleActionDeny
	pass   = npav1beta1.ClusterNetworkPolicyRuleActionPass
)

var allPorts = "TCP/all, UDP/all, SCTP/all"

// devToProd are the leaks of traffic from tier dev to both prod namespaces
// opened by one policy.
func devToProd(policy string) []Leak {
	return []Leak{
		{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: policy},
		{FromTier: "dev", To: "prod-b", Ports: allPorts, Policy: policy},
	}
}

// TestFindWithEnforcement: what a foreign policy opens depends on how
// Tierguard enforces the profile (DefaultCNPPriority 200: its policies at
// 200 and 201).
func TestFindWithEnforcement(t *testing.T) {
	np, cnp, both := segv1.EnforcementNetworkPolicy, segv1.EnforcementClusterNetworkPolicy, segv1.EnforcementBoth
	acceptDevAt := func(priority int32) npav1beta1.ClusterNetworkPolicy {
		return ingressFrom(adminPolicy("open-dev-prod", npav1beta1.AdminTier, priority, "prod"), accept, "dev", nil)
	}
	passDev := ingressFrom(adminPolicy("pass-dev-prod", npav1beta1.AdminTier, 100, "prod"), pass, "dev", nil)
	fromDevNP := foreign("prod-a", "from-dev", fromTier("dev"))
	cases := []struct {
		name    string
		egress  segv1.EgressIsolation
		foreign []networkingv1.NetworkPolicy
		cnps    []npav1beta1.ClusterNetworkPolicy
		want    map[segv1.Enforcement][]Leak
	}{
		{name: "Tierguard's policies alone leak nothing"},
		{
			name:    "an allow-all NetworkPolicy in prod is a hole only when NetworkPolicies alone enforce",
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "allow-all", allowAll)},
			want: map[segv1.Enforcement][]Leak{np: {
				{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "prod-a/allow-all"},
				{FromTier: "prod", To: "prod-a", Ports: allPorts, Policy: "prod-a/allow-all"},
				{FromTier: "test", To: "prod-a", Ports: "TCP/1-442, TCP/444-65535, UDP/all, SCTP/all", Policy: "prod-a/allow-all"},
				{FromNamespace: "other", To: "prod-a", Ports: allPorts, Policy: "prod-a/allow-all"},
			}},
		},
		{
			name: "an Admin Accept before Tierguard's band is a hole in every mode",
			cnps: []npav1beta1.ClusterNetworkPolicy{acceptDevAt(100)},
			want: map[segv1.Enforcement][]Leak{np: devToProd("ClusterNetworkPolicy/open-dev-prod"),
				cnp: devToProd("ClusterNetworkPolicy/open-dev-prod"), both: devToProd("ClusterNetworkPolicy/open-dev-prod")},
		},
		{
			name: "an Admin Accept at the band's priority may come first: a hole",
			cnps: []npav1beta1.ClusterNetworkPolicy{acceptDevAt(201)},
			want: map[segv1.Enforcement][]Leak{np: devToProd("ClusterNetworkPolicy/open-dev-prod"),
				cnp: devToProd("ClusterNetworkPolicy/open-dev-prod"), both: devToProd("ClusterNetworkPolicy/open-dev-prod")},
		},
		{
			name: "an Admin Accept after the band opens nothing Tierguard's policies deny",
			cnps: []npav1beta1.ClusterNetworkPolicy{acceptDevAt(300)},
			want: map[segv1.Enforcement][]Leak{np: devToProd("ClusterNetworkPolicy/open-dev-prod")},
		},
		{
			name: "an Admin Pass ahead of Tierguard's reaches no NetworkPolicy in ClusterNetworkPolicy mode: a hole",
			cnps: []npav1beta1.ClusterNetworkPolicy{passDev},
			want: map[segv1.Enforcement][]Leak{cnp: devToProd("ClusterNetworkPolicy/pass-dev-prod")},
		},
		{
			name:    "an Admin Pass and a NetworkPolicy that then admits: a hole naming both, wherever Tierguard's NetworkPolicy does not decide alone",
			cnps:    []npav1beta1.ClusterNetworkPolicy{passDev},
			foreign: []networkingv1.NetworkPolicy{fromDevNP},
			want: map[segv1.Enforcement][]Leak{
				np: {{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "ClusterNetworkPolicy/pass-dev-prod"},
					{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "prod-a/from-dev"}},
				cnp: {{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "ClusterNetworkPolicy/pass-dev-prod"},
					{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "prod-a/from-dev"},
					{FromTier: "dev", To: "prod-b", Ports: allPorts, Policy: "ClusterNetworkPolicy/pass-dev-prod"}},
				both: {{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "ClusterNetworkPolicy/pass-dev-prod"},
					{FromTier: "dev", To: "prod-a", Ports: allPorts, Policy: "prod-a/from-dev"}},
			},
		},
		{
			name:    "a Pass into a namespace whose NetworkPolicy isolates it and admits nothing is no hole there",
			cnps:    []npav1beta1.ClusterNetworkPolicy{passDev},
			foreign: []networkingv1.NetworkPolicy{foreign("prod-a", "deny-all", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}})},
			want:    map[segv1.Enforcement][]Leak{cnp: devToProd("ClusterNetworkPolicy/pass-dev-prod")[1:]},
		},
		{
			name: "a Pass that reaches a Baseline Deny is no hole",
			cnps: []npav1beta1.ClusterNetworkPolicy{passDev, ingressFrom(adminPolicy("baseline-deny", npav1beta1.BaselineTier, 10, "prod"), deny, "", nil)},
		},
		{
			name: "a Baseline Accept never opens a boundary Tierguard denies",
			cnps: []npav1beta1.ClusterNetworkPolicy{ingressFrom(adminPolicy("baseline-open", npav1beta1.BaselineTier, 1, "prod"), accept, "dev", nil)},
		},
		{
			name: "Deny rules make no hole",
			cnps: []npav1beta1.ClusterNetworkPolicy{ingressFrom(adminPolicy("deny-dev", npav1beta1.AdminTier, 1, "prod"), deny, "dev", nil)},
		},
		{
			name: "an Admin Accept of some pods is a hole: some pods may match",
			cnps: []npav1beta1.ClusterNetworkPolicy{ingressFrom(adminPolicy("debug", npav1beta1.AdminTier, 100, "prod"), accept, "dev",
				&metav1.LabelSelector{MatchLabels: map[string]string{"app": "debug"}})},
			want: map[segv1.Enforcement][]Leak{np: devToProd("ClusterNetworkPolicy/debug"),
				cnp: devToProd("ClusterNetworkPolicy/debug"), both: devToProd("ClusterNetworkPolicy/debug")},
		},
		{
			name:   "with egress isolation, an Admin egress Accept to every network is a hole to the ungoverned namespace",
			egress: segv1.EgressIsolationTier,
			cnps: []npav1beta1.ClusterNetworkPolicy{func() npav1beta1.ClusterNetworkPolicy {
				c := adminPolicy("world", npav1beta1.AdminTier, 100, "dev")
				c.Spec.Egress = []npav1beta1.ClusterNetworkPolicyEgressRule{{Name: "world", Action: accept,
					To: []npav1beta1.ClusterNetworkPolicyEgressPeer{{Networks: []npav1beta1.CIDR{"0.0.0.0/0"}}}}}
				return c
			}()},
			want: map[segv1.Enforcement][]Leak{
				np:   {{FromTier: "dev", To: "other", Ports: allPorts, Policy: "ClusterNetworkPolicy/world"}},
				cnp:  {{FromTier: "dev", To: "other", Ports: allPorts, Policy: "ClusterNetworkPolicy/world"}},
				both: {{FromTier: "dev", To: "other", Ports: allPorts, Policy: "ClusterNetworkPolicy/world"}},
			},
		},
	}
	for _, tc := range cases {
		for _, mode := range modes {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				p := testProfile(tc.egress)
				c := enforce(t, p, mode)
				policies := append(slices.Clone(c.policies), tc.foreign...)
				cnps := append(slices.Clone(c.cnps), tc.cnps...)
				got := FindWith(p, c.plan, c.namespaces, policies, cnps)
				if !slices.Equal(got, tc.want[mode]) {
					t.Errorf("got %d leaks:\n%s\nwant %d:\n%s", len(got), lines(got), len(tc.want[mode]), lines(tc.want[mode]))
				}
				crossCheck(t, p, c, policies, cnps, got)
				if all := everyPair(t, p, c, policies, cnps); !slices.Equal(got, all) {
					t.Errorf("FindWith examines some pairs, or examines them by class; asking every pair gives %d leaks:\n%s", len(all), lines(all))
				}
			})
		}
	}
}

// TestFindWithAlikeSources: namespaces that no policy tells apart are
// analyzed once, and each still gets its leaks: a tier's as the tier's,
// an ungoverned namespace's as its own. One with a policy of its own, or
// named by a selector, is analyzed on its own.
func TestFindWithAlikeSources(t *testing.T) {
	raw := []render.Namespace{
		{Name: "dev-a", Labels: map[string]string{"env": "dev"}},
		{Name: "dev-b", Labels: map[string]string{"env": "dev"}},
		{Name: "dev-c", Labels: map[string]string{"env": "dev"}},
		{Name: "prod-a", Labels: map[string]string{"env": "prod"}},
		{Name: "prod-b", Labels: map[string]string{"env": "prod"}},
		{Name: "ingress", Labels: map[string]string{}},
		{Name: "other-1", Labels: map[string]string{"team": "x"}},
		{Name: "other-2", Labels: map[string]string{"team": "x"}},
		{Name: "other-3", Labels: map[string]string{"team": "x"}},
	}
	everyone := &metav1.LabelSelector{}
	fromAll := ingressFrom(adminPolicy("from-all", npav1beta1.AdminTier, 100, "prod"), accept, "", nil)
	// other-3 is named: its pods are refused before the Accept.
	fromAll.Spec.Ingress = append([]npav1beta1.ClusterNetworkPolicyIngressRule{{Name: "not-other-3", Action: deny,
		From: []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{render.MetadataNameLabel: "other-3"}}}}}},
		fromAll.Spec.Ingress...)
	// dev-c's own egress policy allows only TCP/443.
	devC := foreign("dev-c", "egress-443", networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: everyone}}, Ports: []networkingv1.NetworkPolicyPort{tcpPort(443)}}},
	})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			p := testProfile(segv1.EgressIsolationNone)
			p.Spec.Enforcement = mode
			plan, namespaces, policies := clusterOf(t, p, raw)
			c := enforced{plan: plan, namespaces: namespaces}
			if render.UsesNetworkPolicies(p) {
				c.policies = policies
			}
			if render.UsesClusterNetworkPolicies(p) {
				var err error
				if c.cnps, err = render.ClusterNetworkPolicies(p, plan, render.CNPPriority(p)); err != nil {
					t.Fatal(err)
				}
			}
			policies = append(slices.Clone(c.policies), devC)
			cnps := append(slices.Clone(c.cnps), fromAll)
			got := FindWith(p, c.plan, c.namespaces, policies, cnps)
			var sources []string
			for _, l := range got {
				if l.To == "prod-a" {
					sources = append(sources, l.Source()+" on "+l.Ports+" by "+l.Policy)
				}
			}
			want := []string{
				"tier dev on TCP/443 by ClusterNetworkPolicy/from-all", // dev-c
				"tier dev on TCP/all, UDP/all, SCTP/all by ClusterNetworkPolicy/from-all",
				"tier dev on TCP/443 by dev-c/egress-443",
				"tier prod on TCP/all, UDP/all, SCTP/all by ClusterNetworkPolicy/from-all",
				"namespace other-1 on TCP/all, UDP/all, SCTP/all by ClusterNetworkPolicy/from-all",
				"namespace other-2 on TCP/all, UDP/all, SCTP/all by ClusterNetworkPolicy/from-all",
			}
			if !slices.Equal(sources, want) {
				t.Errorf("sources into prod-a:\n%s\nwant:\n%s", strings.Join(sources, "\n"), strings.Join(want, "\n"))
			}
			if all := everyPair(t, p, c, policies, cnps); !slices.Equal(got, all) {
				t.Errorf("got:\n%s\nasking every pair gives:\n%s", lines(got), lines(all))
			}
			crossCheck(t, p, c, policies, cnps, got)
		})
	}
}

func lines(ls []Leak) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "  %+v\n", l)
	}
	return b.String()
}

// everyPair is FindWith without its shortcuts: every ordered pair of
// namespaces asked on its own.
func everyPair(t *testing.T, p *segv1.SegmentationProfile, c enforced, policies []networkingv1.NetworkPolicy, cnps []npav1beta1.ClusterNetworkPolicy) []Leak {
	t.Helper()
	cl := evaluate.Cluster{ClusterNetworkPolicies: cnps}
	for _, ns := range c.namespaces {
		cl.Namespaces = append(cl.Namespaces, evaluate.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	for _, np := range policies {
		if c.plan.Lookup(np.Namespace) != nil {
			cl.Policies = append(cl.Policies, np)
		}
	}
	e := evaluate.New(cl)
	in, err := intent.New(p, c.plan, c.namespaces)
	if err != nil {
		t.Fatal(err)
	}
	managed := managedKeys(p, cnps)
	found := map[Leak]bool{}
	for _, from := range c.namespaces {
		for _, to := range c.namespaces {
			if from.Name == to.Name {
				continue
			}
			pair := e.NamespacePair(from.Name, to.Name)
			extra := pair.Ports().Possible.Minus(in.Ports(from.Name, to.Name))
			if extra.Empty() {
				continue
			}
			leak := Leak{FromNamespace: from.Name, To: to.Name, Ports: strings.Join(extra.Strings(), ", ")}
			if g := c.plan.Lookup(from.Name); g != nil {
				leak.FromTier, leak.FromNamespace = g.Tier, ""
			}
			for _, key := range pair.Policies(extra) {
				if !managed[key] && key != from.Name+"/"+render.PolicyName && key != to.Name+"/"+render.PolicyName {
					leak.Policy = key
					found[leak] = true
				}
			}
		}
	}
	out := slices.Collect(maps.Keys(found))
	slices.SortFunc(out, func(a, b Leak) int {
		return cmp.Or(strings.Compare(a.To, b.To), cmp.Compare(sourceRank(a), sourceRank(b)),
			strings.Compare(a.Source(), b.Source()), strings.Compare(a.Policy, b.Policy), strings.Compare(a.Ports, b.Ports))
	})
	return out
}

// crossCheck asks the pod-level evaluator about concrete pods (with no
// labels, and labelled app=debug) in every pair of namespaces: traffic the
// profile forbids that it allows must be among the leaks.
func crossCheck(t *testing.T, p *segv1.SegmentationProfile, c enforced, policies []networkingv1.NetworkPolicy, cnps []npav1beta1.ClusterNetworkPolicy, leaks []Leak) {
	t.Helper()
	cl := evaluate.Cluster{Policies: policies, ClusterNetworkPolicies: cnps}
	for _, ns := range c.namespaces {
		cl.Namespaces = append(cl.Namespaces, evaluate.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	e := evaluate.New(cl)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	in, err := intent.New(p, c.plan, c.namespaces)
	if err != nil {
		t.Fatal(err)
	}
	leaking := map[[2]string]bool{}
	for _, l := range leaks {
		from := l.FromNamespace
		if from == "" {
			for _, ns := range c.namespaces {
				if g := c.plan.Lookup(ns.Name); g != nil && g.Tier == l.FromTier {
					leaking[[2]string{ns.Name, l.To}] = true
				}
			}
			continue
		}
		leaking[[2]string{from, l.To}] = true
	}
	ports := []evaluate.Port{{Protocol: corev1.ProtocolTCP, Port: 443}, {Protocol: corev1.ProtocolTCP, Port: 8080}, {Protocol: corev1.ProtocolUDP, Port: 53}}
	for i, from := range c.namespaces {
		for _, to := range c.namespaces {
			if from.Name == to.Name || leaking[[2]string{from.Name, to.Name}] {
				continue
			}
			for _, labels := range []map[string]string{nil, {"app": "debug"}} {
				a := evaluate.PodEndpoint(evaluate.Pod{Namespace: from.Name, Name: "a", Labels: labels, IP: fmt.Sprintf("10.0.%d.1", i)})
				b := evaluate.PodEndpoint(evaluate.Pod{Namespace: to.Name, Name: "b", IP: "10.1.0.1"})
				for _, port := range ports {
					if !in.Ports(from.Name, to.Name).Contains(port) && e.Allowed(a, b, port).Allowed {
						t.Errorf("pods of %s reach %s on %s, which the profile forbids, and no leak says so: %s",
							from.Name, to.Name, port, e.Allowed(a, b, port).Reason)
					}
				}
			}
		}
	}
}
