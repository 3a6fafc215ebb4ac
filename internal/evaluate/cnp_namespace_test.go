package evaluate

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// Builders of ClusterNetworkPolicies for the namespace-level tests; the
// nsl prefix keeps them apart from cnp_test.go's.
type nslCNP = npav1beta1.ClusterNetworkPolicy

const (
	nslAccept = npav1beta1.ClusterNetworkPolicyRuleActionAccept
	nslDeny   = npav1beta1.ClusterNetworkPolicyRuleActionDeny
	nslPass   = npav1beta1.ClusterNetworkPolicyRuleActionPass
)

// nslPolicy selects the namespaces of subject (and, with pods, only those
// pods) in the given tier at the given priority.
func nslPolicy(name string, tier npav1beta1.Tier, priority int32, subject, pods *metav1.LabelSelector) nslCNP {
	c := nslCNP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: npav1beta1.ClusterNetworkPolicySpec{Tier: tier, Priority: priority}}
	if pods != nil {
		c.Spec.Subject.Pods = &npav1beta1.NamespacedPod{NamespaceSelector: *subject, PodSelector: *pods}
	} else {
		c.Spec.Subject.Namespaces = subject
	}
	return c
}

func nslIn(c nslCNP, action npav1beta1.ClusterNetworkPolicyRuleAction, ns, pods *metav1.LabelSelector, protocols ...npav1beta1.ClusterNetworkPolicyProtocol) nslCNP {
	peer := npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: ns}
	if pods != nil {
		peer = npav1beta1.ClusterNetworkPolicyIngressPeer{Pods: &npav1beta1.NamespacedPod{NamespaceSelector: *ns, PodSelector: *pods}}
	}
	c.Spec.Ingress = append(c.Spec.Ingress, npav1beta1.ClusterNetworkPolicyIngressRule{
		Name: fmt.Sprintf("%s-%d", strings.ToLower(string(action)), len(c.Spec.Ingress)), Action: action,
		From: []npav1beta1.ClusterNetworkPolicyIngressPeer{peer}, Protocols: protocols})
	return c
}

func nslOut(c nslCNP, action npav1beta1.ClusterNetworkPolicyRuleAction, peer npav1beta1.ClusterNetworkPolicyEgressPeer, protocols ...npav1beta1.ClusterNetworkPolicyProtocol) nslCNP {
	c.Spec.Egress = append(c.Spec.Egress, npav1beta1.ClusterNetworkPolicyEgressRule{
		Name: fmt.Sprintf("%s-%d", strings.ToLower(string(action)), len(c.Spec.Egress)), Action: action,
		To: []npav1beta1.ClusterNetworkPolicyEgressPeer{peer}, Protocols: protocols})
	return c
}

func nslNetworks(cidrs ...string) npav1beta1.ClusterNetworkPolicyEgressPeer {
	var out npav1beta1.ClusterNetworkPolicyEgressPeer
	for _, c := range cidrs {
		out.Networks = append(out.Networks, npav1beta1.CIDR(c))
	}
	return out
}

func nslTCP(lo, hi int32) npav1beta1.ClusterNetworkPolicyProtocol {
	port := &npav1beta1.Port{Number: lo}
	if hi != lo {
		port = &npav1beta1.Port{Range: &npav1beta1.PortRange{Start: lo, End: hi}}
	}
	return npav1beta1.ClusterNetworkPolicyProtocol{TCP: &npav1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: port}}
}

func nslNamed(name string) npav1beta1.ClusterNetworkPolicyProtocol {
	return npav1beta1.ClusterNetworkPolicyProtocol{DestinationNamedPort: name}
}

const (
	admin    = npav1beta1.AdminTier
	baseline = npav1beta1.BaselineTier
)

// TestNamespaceAllowedClusterNetworkPolicies: the namespace-level answer
// follows ClusterNetworkPolicy precedence, staging to prod on TCP/80
// unless a case says otherwise.
func TestNamespaceAllowedClusterNetworkPolicies(t *testing.T) {
	prodNS, stagingNS, anyNS := sel("tier", "prod"), sel("tier", "staging"), sel()
	web := sel("app", "web")
	denyAllProd := pol("prod", "default-deny", sel())
	allowAllProd := pol("prod", "allow-all", sel(), ingressRules(inRule{}))
	cases := []struct {
		name       string
		policies   []np
		cnps       []nslCNP
		podCIDRs   []string
		port       Port
		want       bool
		exact      bool
		in, eg     []string
		unisoDst   bool
		conditions []string
		// refused are the ingress refusers, checked when set.
		refused []string
	}{
		{name: "an Admin Accept opens what a NetworkPolicy closes", policies: []np{denyAllProd},
			cnps: []nslCNP{nslIn(nslPolicy("open", admin, 10, prodNS, nil), nslAccept, stagingNS, nil)},
			want: true, exact: true, in: []string{"ClusterNetworkPolicy/open"}},
		{name: "an Admin Deny closes what a NetworkPolicy opens", policies: []np{allowAllProd},
			cnps: []nslCNP{nslIn(nslPolicy("boundary", admin, 10, prodNS, nil), nslDeny, anyNS, nil)}, exact: true,
			refused: []string{"ClusterNetworkPolicy/boundary"}},
		{name: "an Admin Pass leaves the decision to the NetworkPolicies", policies: []np{denyAllProd},
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslPass, stagingNS, nil), nslAccept, anyNS, nil)}, exact: true},
		{name: "an Admin Pass with no NetworkPolicy reaches the Baseline Deny",
			cnps: []nslCNP{
				nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslPass, stagingNS, nil),
				nslIn(nslPolicy("base", baseline, 10, prodNS, nil), nslDeny, anyNS, nil),
			}, exact: true, refused: []string{"ClusterNetworkPolicy/base"}},
		{name: "an Admin Pass with no NetworkPolicy and no Baseline is allowed, by the Pass",
			cnps: []nslCNP{nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslPass, stagingNS, nil)},
			want: true, exact: true, in: []string{"ClusterNetworkPolicy/p"}, unisoDst: true},
		{name: "a Pass skips the later Admin policies",
			cnps: []nslCNP{
				nslIn(nslPolicy("a-pass", admin, 10, prodNS, nil), nslPass, stagingNS, nil),
				nslIn(nslPolicy("b-deny", admin, 20, prodNS, nil), nslDeny, anyNS, nil),
			}, want: true, exact: true, in: []string{"ClusterNetworkPolicy/a-pass"}, unisoDst: true},
		{name: "a Baseline Accept applies where no NetworkPolicy selects the pod",
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("base", baseline, 10, prodNS, nil), nslAccept, stagingNS, nil), nslDeny, anyNS, nil)},
			want: true, exact: true, in: []string{"ClusterNetworkPolicy/base"}, unisoDst: true},
		{name: "a Baseline Deny yields to a NetworkPolicy, for the pods it selects", policies: []np{pol("prod", "web-open", web, ingressRules(inRule{}))},
			cnps: []nslCNP{nslIn(nslPolicy("base", baseline, 10, prodNS, nil), nslDeny, anyNS, nil)}, refused: []string{"ClusterNetworkPolicy/base"},
			want: true, in: []string{"prod/web-open"}, conditions: []string{"a destination pod in prod matching app=web (selected by prod/web-open)"}},
		{name: "an Admin Accept of some source pods is a condition",
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("web", admin, 10, prodNS, nil), nslAccept, stagingNS, web), nslDeny, anyNS, nil)},
			want: true, in: []string{"ClusterNetworkPolicy/web"}, conditions: []string{"a source pod in staging matching app=web (peer of ClusterNetworkPolicy/web)"}},
		{name: "an Admin Deny of some source pods leaves the others to a later Accept",
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslDeny, stagingNS, web), nslAccept, anyNS, nil)},
			want: true, in: []string{"ClusterNetworkPolicy/p"}, conditions: []string{`a pod pair that rule "deny-0" of ClusterNetworkPolicy/p does not match`}},
		{name: "an Admin Deny and a later Accept of the same pods: denied, exactly",
			cnps:  []nslCNP{nslIn(nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslDeny, stagingNS, web), nslAccept, stagingNS, web), nslIn(nslPolicy("z", admin, 20, prodNS, nil), nslDeny, anyNS, nil)},
			exact: true},
		{name: "an Admin Accept for some subject pods is a condition",
			cnps: []nslCNP{nslIn(nslPolicy("db", admin, 10, prodNS, sel("app", "db")), nslAccept, stagingNS, nil), nslIn(nslPolicy("z", admin, 20, prodNS, nil), nslDeny, anyNS, nil)},
			want: true, in: []string{"ClusterNetworkPolicy/db"}, conditions: []string{"a destination pod in prod matching app=db (subject of ClusterNetworkPolicy/db)"}},
		{name: "equal priorities: either may decide first",
			cnps: []nslCNP{nslIn(nslPolicy("a-deny", admin, 10, prodNS, nil), nslDeny, anyNS, nil), nslIn(nslPolicy("b-accept", admin, 10, prodNS, nil), nslAccept, stagingNS, nil)},
			want: true, in: []string{"ClusterNetworkPolicy/b-accept"}},
		{name: "a lower priority number decides first",
			cnps:  []nslCNP{nslIn(nslPolicy("z-deny", admin, 5, prodNS, nil), nslDeny, anyNS, nil), nslIn(nslPolicy("a-accept", admin, 10, prodNS, nil), nslAccept, stagingNS, nil)},
			exact: true},
		{name: "a rule on another port does not match",
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslAccept, stagingNS, nil, nslTCP(443, 443)), nslDeny, anyNS, nil)}, exact: true},
		{name: "a rule on the port matches", port: p(tcp, 443),
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslAccept, stagingNS, nil, nslTCP(443, 443)), nslDeny, anyNS, nil)},
			want: true, exact: true, in: []string{"ClusterNetworkPolicy/p"}},
		{name: "a destinationNamedPort is a guess", port: p(tcp, 8080),
			cnps: []nslCNP{nslIn(nslIn(nslPolicy("p", admin, 10, prodNS, nil), nslAccept, stagingNS, nil, nslNamed("http")), nslDeny, anyNS, nil)},
			want: true, in: []string{"ClusterNetworkPolicy/p"}, conditions: []string{`named port "http" resolving to TCP/8080`}},
		{name: "a policy whose subject is another namespace does not apply", policies: []np{denyAllProd},
			cnps: []nslCNP{nslIn(nslPolicy("dev", admin, 10, sel("tier", "dev"), nil), nslAccept, anyNS, nil)}, exact: true},
		{name: "an egress Deny to every network holds every pod when pod CIDRs are unknown",
			cnps: []nslCNP{nslOut(nslPolicy("out", admin, 10, stagingNS, nil), nslDeny, nslNetworks("0.0.0.0/0", "::/0"))}, exact: true},
		{name: "an egress Deny to the pod CIDRs holds every pod", podCIDRs: []string{"10.0.0.0/8"},
			cnps: []nslCNP{nslOut(nslPolicy("out", admin, 10, stagingNS, nil), nslDeny, nslNetworks("10.0.0.0/9", "10.128.0.0/9"))}, exact: true},
		{name: "an egress Deny to part of the pod CIDRs leaves the other pods", podCIDRs: []string{"10.0.0.0/8"},
			cnps: []nslCNP{nslOut(nslPolicy("out", admin, 10, stagingNS, nil), nslDeny, nslNetworks("10.1.0.0/16"))},
			want: true, unisoDst: true},
		{name: "an egress Accept to networks outside the pod CIDRs matches no pod", podCIDRs: []string{"10.0.0.0/8"},
			cnps:  []nslCNP{nslOut(nslOut(nslPolicy("out", admin, 10, stagingNS, nil), nslAccept, nslNetworks("192.168.0.0/16")), nslDeny, npav1beta1.ClusterNetworkPolicyEgressPeer{Namespaces: anyNS})},
			exact: true},
		{name: "an egress Accept to networks inside the pod CIDRs is a guess", podCIDRs: []string{"10.0.0.0/8"},
			cnps: []nslCNP{nslOut(nslOut(nslPolicy("out", admin, 10, stagingNS, nil), nslAccept, nslNetworks("10.1.0.0/16")), nslDeny, npav1beta1.ClusterNetworkPolicyEgressPeer{Namespaces: anyNS})},
			want: true, eg: []string{"ClusterNetworkPolicy/out"}, unisoDst: true, conditions: []string{"a destination pod IP inside networks 10.1.0.0/16 (ClusterNetworkPolicy/out)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Cluster{Namespaces: fixtureNamespaces, Policies: tc.policies, ClusterNetworkPolicies: tc.cnps, PodCIDRs: tc.podCIDRs})
			if err := e.Err(); err != nil {
				t.Fatalf("fixture invalid: %v", err)
			}
			port := tc.port
			if port.Port == 0 {
				port = p(tcp, 80)
			}
			v := e.NamespaceAllowed("staging", "prod", port)
			if v.Allowed != tc.want || v.Exact != tc.exact {
				t.Errorf("Allowed=%v Exact=%v, want %v/%v (%s; %s)", v.Allowed, v.Exact, tc.want, tc.exact, v.Reason, v.Assumption)
			}
			if !sameList(v.IngressPolicies, tc.in) || !sameList(v.EgressPolicies, tc.eg) {
				t.Errorf("policies in=%v eg=%v, want in=%v eg=%v", v.IngressPolicies, v.EgressPolicies, tc.in, tc.eg)
			}
			if tc.refused != nil && !sameList(v.IngressRefusers, tc.refused) {
				t.Errorf("IngressRefusers=%v, want %v", v.IngressRefusers, tc.refused)
			}
			if tc.want && v.UnisolatedDestination != tc.unisoDst {
				t.Errorf("UnisolatedDestination=%v, want %v", v.UnisolatedDestination, tc.unisoDst)
			}
			all := strings.Join(v.Conditions, "\n")
			for _, c := range tc.conditions {
				if !strings.Contains(all, c) {
					t.Errorf("Conditions %q lack %q", v.Conditions, c)
				}
			}
			if v.Exact != (len(v.Conditions) == 0) {
				t.Errorf("Exact=%v but Conditions=%q", v.Exact, v.Conditions)
			}
			if pv := e.NamespacePair("staging", "prod").Allowed(port); pv.Allowed != v.Allowed || pv.Exact != v.Exact {
				t.Errorf("the pair answers %v/%v, NamespaceAllowed %v/%v", pv.Allowed, pv.Exact, v.Allowed, v.Exact)
			}
		})
	}
}

// TestNamespacePairPortsCutAtClusterPolicyPorts: a ClusterNetworkPolicy
// rule's ports are where the answer changes, with no NetworkPolicy port
// there.
func TestNamespacePairPortsCutAtClusterPolicyPorts(t *testing.T) {
	prodNS, stagingNS := sel("tier", "prod"), sel("tier", "staging")
	boundary := nslIn(nslIn(nslIn(nslPolicy("boundary", admin, 20, prodNS, nil), nslAccept, stagingNS, nil, nslTCP(443, 443)),
		nslPass, stagingNS, nil, nslTCP(8000, 8080)), nslDeny, sel(), nil)
	ssh := nslIn(nslPolicy("ssh", admin, 10, prodNS, nil), nslAccept, stagingNS, nil, nslTCP(22, 22))
	e := New(Cluster{Namespaces: fixtureNamespaces, ClusterNetworkPolicies: []nslCNP{boundary, ssh},
		Policies: []np{pol("prod", "web", sel(), ingressRules(onPorts(port(tcp, 8080))))}})
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	pair := e.NamespacePair("staging", "prod")
	got := pair.Ports()
	if want := "TCP/22, TCP/443, TCP/8080"; got.Possible.String() != want || got.Certain.String() != want {
		t.Errorf("Possible=%q Certain=%q, want %q for both", got.Possible, got.Certain, want)
	}
	if got, want := strings.Join(pair.Policies(NewPortSet([]PortRange{{Protocol: tcp, From: 22, To: 22}}, nil)), ","), "ClusterNetworkPolicy/ssh"; got != want {
		t.Errorf("Policies(TCP/22) = %s, want %s", got, want)
	}
	if got, want := strings.Join(pair.Policies(NewPortSet([]PortRange{{Protocol: tcp, From: 8080, To: 8080}}, nil)), ","), "ClusterNetworkPolicy/boundary,prod/web"; got != want {
		t.Errorf("Policies(TCP/8080) = %s, want %s", got, want)
	}
	named := New(Cluster{Namespaces: fixtureNamespaces, ClusterNetworkPolicies: []nslCNP{
		nslIn(nslIn(nslPolicy("named", admin, 10, prodNS, nil), nslAccept, stagingNS, nil, nslNamed("metrics")), nslDeny, sel(), nil)}})
	if got, want := named.NamespacePair("staging", "prod").Ports().Possible.String(), `TCP/"metrics", UDP/"metrics", SCTP/"metrics"`; got != want {
		t.Errorf("a destinationNamedPort: Possible=%q, want %q", got, want)
	}
}

// TestNamespaceAllowedAgreesWithPodsUnderClusterPolicies checks, on random
// policies over a small label universe, that the namespace-level answer is
// sound (pods allowed implies namespaces allowed) and that an exact yes
// holds for every pod pair. The pods cover every class of labels the
// selectors tell apart, so in the rounds without guesses (no named port,
// no networks, no equal priorities) it also checks precision: a yes for
// namespaces is a yes for some pod pair.
func TestNamespaceAllowedAgreesWithPodsUnderClusterPolicies(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2026))
	namespaces := []Namespace{
		{Name: "prod", Labels: map[string]string{"tier": "prod"}},
		{Name: "staging", Labels: map[string]string{"tier": "staging"}},
		{Name: "dev", Labels: map[string]string{"tier": "dev"}},
	}
	var pods []Pod
	for i, ns := range namespaces {
		n := 0
		for _, app := range []string{"", "web", "db"} {
			for _, role := range []string{"", "x", "y"} {
				labels := map[string]string{}
				if app != "" {
					labels["app"] = app
				}
				if role != "" {
					labels["role"] = role
				}
				n++
				pods = append(pods, Pod{Namespace: ns.Name, Name: fmt.Sprint(n), Labels: labels, IP: fmt.Sprintf("10.%d.0.%d", i, n),
					NamedPorts: []NamedPort{{Name: "http", Port: 8080}}})
			}
		}
	}
	nsSelectors := []*metav1.LabelSelector{sel(), sel("tier", "prod"), sel("tier", "staging"), expr("tier", metav1.LabelSelectorOpNotIn, "dev")}
	podSelectors := []*metav1.LabelSelector{nil, sel(), sel("app", "web"), expr("app", metav1.LabelSelectorOpExists), sel("role", "x")}
	actions := []npav1beta1.ClusterNetworkPolicyRuleAction{nslAccept, nslDeny, nslPass}
	protocols := [][]npav1beta1.ClusterNetworkPolicyProtocol{nil, {nslTCP(80, 80)}, {nslTCP(1, 100)}, {nslNamed("http")}}
	pick := func(n int) int { return rng.IntN(n) }
	ports := []Port{p(tcp, 80), p(tcp, 8080), p(tcp, 443)}
	for round := range 300 {
		// Odd rounds leave out what the analysis guesses at.
		precise := round%2 == 1
		var cnps []nslCNP
		for i := range 1 + pick(4) {
			tier := admin
			if pick(3) == 0 {
				tier = baseline
			}
			priority := int32(pick(3))
			if precise {
				priority = int32(i)
			}
			c := nslPolicy(fmt.Sprintf("c%d", i), tier, priority, nsSelectors[pick(len(nsSelectors))], podSelectors[pick(len(podSelectors))])
			for range 1 + pick(3) {
				action := actions[pick(len(actions))]
				ns, pods := nsSelectors[pick(len(nsSelectors))], podSelectors[pick(len(podSelectors))]
				protos := protocols[pick(len(protocols)-1)]
				if !precise && pick(4) == 0 {
					protos = protocols[len(protocols)-1]
				}
				if pick(2) == 0 {
					c = nslIn(c, action, ns, pods, protos...)
					continue
				}
				peer := npav1beta1.ClusterNetworkPolicyEgressPeer{Namespaces: ns}
				switch {
				case pick(4) == 0:
					peer = nslNetworks([]string{"10.0.0.0/8", "192.168.0.0/16", "10.1.0.0/16"}[pick(3-btoi(precise))])
				case pods != nil:
					peer = npav1beta1.ClusterNetworkPolicyEgressPeer{Pods: &npav1beta1.NamespacedPod{NamespaceSelector: *ns, PodSelector: *pods}}
				}
				c = nslOut(c, action, peer, protos...)
			}
			cnps = append(cnps, c)
		}
		var policies []np
		for i := range pick(3) {
			ns := namespaces[pick(len(namespaces))].Name
			podSel := podSelectors[1+pick(len(podSelectors)-1)]
			peer := nsPodPeer(nsSelectors[pick(len(nsSelectors))], podSelectors[1+pick(len(podSelectors)-1)])
			if pick(2) == 0 {
				policies = append(policies, pol(ns, fmt.Sprintf("n%d", i), podSel, ingressRules(from(peer))))
			} else {
				policies = append(policies, pol(ns, fmt.Sprintf("n%d", i), podSel, types("Egress"), egressRules(to(peer))))
			}
		}
		e := New(Cluster{Namespaces: namespaces, Policies: policies, ClusterNetworkPolicies: cnps, PodCIDRs: []string{"10.0.0.0/8"}})
		if err := e.Err(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, from := range namespaces {
			for _, to := range namespaces {
				pair := e.NamespacePair(from.Name, to.Name)
				for _, pt := range ports {
					v := pair.Allowed(pt)
					some := false
					for _, a := range pods {
						for _, b := range pods {
							if a.Namespace != from.Name || b.Namespace != to.Name {
								continue
							}
							got := e.Allowed(ep(a), ep(b), pt)
							some = some || got.Allowed
							if got.Allowed && !v.Allowed {
								t.Fatalf("round %d: %s/%s -> %s/%s on %s allowed for pods (%s) but not for namespaces (%s)\n%s",
									round, a.Namespace, a.Name, b.Namespace, b.Name, pt, got.Reason, v.Reason, describeCNPs(cnps, policies))
							}
							if v.Exact && v.Allowed && !got.Allowed {
								t.Fatalf("round %d: %s/%s -> %s/%s on %s denied for pods (%s) but exactly allowed for namespaces (%s)\n%s",
									round, a.Namespace, a.Name, b.Namespace, b.Name, pt, got.Reason, v.Reason, describeCNPs(cnps, policies))
							}
						}
					}
					if precise && v.Allowed && !some {
						t.Fatalf("round %d: %s -> %s on %s allowed for namespaces (%s; %s) but for no pod pair\n%s",
							round, from.Name, to.Name, pt, v.Reason, v.Assumption, describeCNPs(cnps, policies))
					}
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func describeCNPs(cnps []nslCNP, policies []np) string {
	var b strings.Builder
	for _, c := range cnps {
		fmt.Fprintf(&b, "%s %s/%d subject %v: ingress %+v egress %+v\n", c.Name, c.Spec.Tier, c.Spec.Priority, c.Spec.Subject, c.Spec.Ingress, c.Spec.Egress)
	}
	for _, p := range policies {
		fmt.Fprintf(&b, "%s/%s %+v\n", p.Namespace, p.Name, p.Spec)
	}
	return b.String()
}
