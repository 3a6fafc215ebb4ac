package evaluate

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInvalidPoliciesAreReportedAndIgnored uses deny-all policies with one
// defect each: if the defect were ignored instead of the policy, traffic
// would be denied.
func TestInvalidPoliciesAreReportedAndIgnored(t *testing.T) {
	deny := func(mods ...specMod) np { return pol("prod", "bad", sel(), mods...) }
	withPeer := func(pr npPeer) np { return deny(ingressRules(from(pr))) }
	withPort := func(pt npPort) np { return deny(ingressRules(onPorts(pt))) }
	badOp := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like", Values: []string{"x"}}}}
	cases := []struct {
		name   string
		policy np
		want   string
	}{
		{name: "unknown selector operator", policy: pol("prod", "bad", badOp), want: "spec.podSelector"},
		{name: "In without values", policy: pol("prod", "bad", expr("app", metav1.LabelSelectorOpIn)), want: "spec.podSelector"},
		{name: "invalid label key in peer", policy: withPeer(podPeer(sel("bad key!", "x"))), want: "spec.ingress[0].from[0]: podSelector"},
		{name: "invalid namespaceSelector", policy: withPeer(nsPeer(badOp)), want: "namespaceSelector"},
		{name: "unparsable cidr", policy: withPeer(block("10.0.0.0/33")), want: "ipBlock: cidr"},
		{name: "except outside cidr", policy: withPeer(block("10.0.0.0/16", "10.1.0.0/24")), want: "strict subset"},
		{name: "except equal to cidr", policy: withPeer(block("10.0.0.0/16", "10.0.0.0/16")), want: "strict subset"},
		{name: "except of other family", policy: withPeer(block("0.0.0.0/0", "fd00::/8")), want: "strict subset"},
		{name: "ipBlock with podSelector", policy: withPeer(npPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: sel()}), want: "may not be combined"},
		{name: "empty peer", policy: withPeer(npPeer{}), want: "must specify a peer"},
		{name: "port zero", policy: withPort(port(tcp, 0)), want: "spec.ingress[0].ports[0]: port 0"},
		{name: "endPort below port", policy: withPort(portRange(tcp, 90, 80)), want: "endPort 80"},
		{name: "endPort out of range", policy: withPort(portRange(tcp, 90, 70000)), want: "endPort 70000"},
		{name: "endPort with named port", policy: withPort(func() npPort { x := namedPort(tcp, "http"); e := int32(90); x.EndPort = &e; return x }()), want: "named port"},
		{name: "endPort without port", policy: withPort(func() npPort { e := int32(90); return npPort{EndPort: &e} }()), want: "without port"},
		{name: "unsupported protocol", policy: withPort(port("ICMP", 1)), want: "protocol \"ICMP\""},
		{name: "invalid port name", policy: withPort(namedPort(tcp, "Not_A_Name")), want: "port \"Not_A_Name\""},
		{name: "unknown policy type", policy: deny(types("Both")), want: "spec.policyTypes[0]"},
		{name: "too many policy types", policy: deny(types("Ingress", "Egress", "Ingress")), want: "at most 2"},
		{name: "egress peer path", policy: deny(egressRules(to(npPeer{}))), want: "spec.egress[0].to[0]"},
		{name: "missing namespace", policy: pol("", "bad", sel()), want: "metadata.namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Cluster{Namespaces: fixtureNamespaces, Policies: []np{tc.policy}})
			err := e.Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/bad:") {
				t.Fatalf("Err() = %v, want it to name the policy and mention %q", err, tc.want)
			}
			if v := e.Allowed(ep(stagingWeb), ep(prodWeb), p(tcp, 80)); !v.Allowed {
				t.Errorf("invalid policy was applied: %s", v.Reason)
			}
		})
	}
}

func TestErrCollectsEveryProblem(t *testing.T) {
	e := New(Cluster{
		Policies: []np{pol("prod", "one", expr("app", metav1.LabelSelectorOpIn)), pol("prod", "two", sel(), types("Sideways"))},
		PodCIDRs: []string{"not-a-cidr"},
	})
	err := e.Err()
	for _, want := range []string{"prod/one", "prod/two", "podCIDRs[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v, want mention of %q", err, want)
		}
	}
	if joined, ok := err.(interface{ Unwrap() []error }); !ok || len(joined.Unwrap()) != 3 {
		t.Errorf("Err() should join one error per problem, got %v", err)
	}
}

func TestValidHostBitsAreMasked(t *testing.T) {
	// The API server tolerates host bits in legacy CIDR fields.
	e := newFixture(t, pol("prod", "net", sel(), ingressRules(from(block("203.0.113.77/24", "203.0.113.129/25")))))
	if !e.Allowed(IPEndpoint("203.0.113.5"), ep(prodWeb), p(tcp, 80)).Allowed {
		t.Error("address inside masked cidr rejected")
	}
	if e.Allowed(IPEndpoint("203.0.113.200"), ep(prodWeb), p(tcp, 80)).Allowed {
		t.Error("address inside masked except admitted")
	}
}
