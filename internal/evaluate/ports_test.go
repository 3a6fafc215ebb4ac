package evaluate

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

func TestNamespacePorts(t *testing.T) {
	denyAll := pol("prod", "default-deny", sel())
	cases := []struct {
		name           string
		policies       []np
		possible, sure string
	}{
		{name: "no policies: all ports, exactly", possible: "all", sure: "all"},
		{name: "deny-all: no ports", policies: []np{denyAll}, possible: "none", sure: "none"},
		{name: "numeric ports, ranges and protocols are listed", policies: []np{denyAll, pol("prod", "svc", sel(), ingressRules(onPorts(port(tcp, 80), portRange(tcp, 8000, 8100), port(udp, 53))))},
			possible: "TCP/80, TCP/8000-8100, UDP/53", sure: "TCP/80, TCP/8000-8100, UDP/53"},
		{name: "adjacent ranges merge", policies: []np{denyAll, pol("prod", "a", sel(), ingressRules(onPorts(portRange("", 80, 89)))), pol("prod", "b", sel(), ingressRules(onPorts(portRange("", 90, 99))))},
			possible: "TCP/80-99", sure: "TCP/80-99"},
		{name: "ingress and egress ranges intersect", policies: []np{
			pol("prod", "in", sel(), ingressRules(onPorts(portRange(tcp, 80, 90)))),
			pol("staging", "out", sel(), types("Egress"), egressRules(egRule{Ports: []npPort{portRange(tcp, 85, 100)}})),
		},
			possible: "TCP/85-90", sure: "TCP/85-90"},
		{name: "protocol without port covers that protocol", policies: []np{denyAll, pol("prod", "udp", sel(), ingressRules(onPorts(protoOnly(udp))))},
			possible: "UDP/all", sure: "UDP/all"},
		{name: "a named port is possible as itself, not as every number, and never certain", policies: []np{denyAll, pol("prod", "named", sel(), ingressRules(onPorts(namedPort("", "http"), port(tcp, 443))))},
			possible: `TCP/443, TCP/"http"`, sure: "TCP/443"},
		{name: "a numbered port beside a named one stays apart from it", policies: []np{denyAll,
			pol("prod", "named", sel(), ingressRules(onPorts(namedPort("", "https")))), pol("prod", "ssh", sel(), ingressRules(onPorts(port(tcp, 22))))},
			possible: `TCP/22, TCP/"https"`, sure: "TCP/22"},
		{name: "a named port under every port of its protocol adds nothing", policies: []np{denyAll, pol("prod", "named", sel(), ingressRules(onPorts(namedPort(udp, "dns"), protoOnly(udp))))},
			possible: "UDP/all", sure: "UDP/all"},
		{name: "a name allowed on ingress and denied on egress is not possible", policies: []np{denyAll,
			pol("prod", "named", sel(), ingressRules(onPorts(namedPort("", "https")))),
			pol("staging", "out", sel(), types("Egress"), egressRules(egRule{Ports: []npPort{namedPort("", "ssh")}}))},
			possible: "none", sure: "none"},
		{name: "a name may fall in a range the other side allows", policies: []np{denyAll,
			pol("prod", "named", sel(), ingressRules(onPorts(namedPort("", "https")))),
			pol("staging", "out", sel(), types("Egress"), egressRules(egRule{Ports: []npPort{portRange(tcp, 8000, 8999)}}))},
			possible: `TCP/"https"`, sure: "none"},
		{name: "a name no rule admits this pair by is not reported: numbers are", policies: []np{
			pol("staging", "out", sel(), types("Egress"), egressRules(
				egRule{To: []npPeer{nsPeer(sel("tier", "dev"))}, Ports: []npPort{namedPort("", "https")}},
				egRule{Ports: []npPort{port(tcp, 53)}}))},
			possible: "TCP/53", sure: "TCP/53"},
		{name: "pod-dependent allow is possible but not certain", policies: []np{denyAll, pol("prod", "web", sel(), ingressRules(inRule{From: []npPeer{nsPodPeer(sel(), sel("app", "web"))}, Ports: []npPort{port(tcp, 80)}}))},
			possible: "TCP/80", sure: "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := newFixture(t, tc.policies...).NamespacePorts("staging", "prod")
			if got.Possible.String() != tc.possible || got.Certain.String() != tc.sure {
				t.Errorf("Possible=%q Certain=%q, want %q/%q", got.Possible, got.Certain, tc.possible, tc.sure)
			}
			if got.Exact() != (tc.possible == tc.sure) {
				t.Errorf("Exact()=%v with Possible=%q Certain=%q", got.Exact(), got.Possible, got.Certain)
			}
		})
	}
}

func TestAllowedPorts(t *testing.T) {
	policies := []np{
		pol("prod", "default-deny", sel()),
		pol("prod", "http", sel(), ingressRules(onPorts(namedPort("", "http"), port(tcp, 443)))),
	}
	cases := []struct {
		name     string
		from, to Endpoint
		want     string
	}{
		{name: "named port resolves on web", from: ep(stagingWeb), to: ep(prodWeb), want: "TCP/443, TCP/8080"},
		{name: "named port resolves on db", from: ep(stagingWeb), to: ep(prodDB), want: "TCP/443, TCP/9000"},
		{name: "pod without the named port", from: ep(stagingWeb), to: ep(prodWorker), want: "TCP/443"},
		{name: "unpoliced namespace", from: ep(prodWeb), to: ep(stagingWeb), want: "all"},
		{name: "external to external", from: IPEndpoint("192.0.2.1"), to: IPEndpoint("192.0.2.2"), want: "all"},
	}
	e := newFixture(t, policies...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.AllowedPorts(tc.from, tc.to).String(); got != tc.want {
				t.Errorf("AllowedPorts = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPortSet(t *testing.T) {
	var s PortSet
	s.add(PortRange{Protocol: tcp, From: 80, To: 80})
	s.add(PortRange{Protocol: tcp, From: 81, To: 90})
	s.add(PortRange{Protocol: udp, From: 53, To: 53})
	cases := []struct {
		port Port
		want bool
	}{
		{p(tcp, 80), true},
		{p(tcp, 90), true},
		{p(tcp, 91), false},
		{Port{Port: 85}, true},
		{p(udp, 53), true},
		{p(udp, 80), false},
		{p(sctp, 80), false},
	}
	for _, tc := range cases {
		if got := s.Contains(tc.port); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.port, got, tc.want)
		}
	}
	if got := s.String(); got != "TCP/80-90, UDP/53" {
		t.Errorf("String() = %q", got)
	}
	if s.All() || s.Empty() {
		t.Error("partial set reported as all or empty")
	}
}

func TestPortSetOperations(t *testing.T) {
	r := func(proto corev1.Protocol, from, to int32) PortRange {
		return PortRange{Protocol: proto, From: from, To: to}
	}
	https := PortName{Protocol: tcp, Name: "https"}
	dns := PortName{Protocol: udp, Name: "dns"}
	a := NewPortSet([]PortRange{r(udp, 53, 53), r(tcp, 100, 200), r(tcp, 201, 300), r("", 150, 160)}, []PortName{https, {Name: "https"}, dns})
	if want := (PortSet{Ranges: []PortRange{r(tcp, 100, 300), r(udp, 53, 53)}, Names: []PortName{https, dns}}); !a.Equal(want) {
		t.Fatalf("NewPortSet = %+v, want %+v: merged, deduplicated, TCP by default, in PortSet order", a, want)
	}
	udpAll := NewPortSet([]PortRange{r(udp, 1, 65535)}, nil)
	cases := []struct {
		name      string
		got, want PortSet
	}{
		{"a name under every port of its protocol is dropped", NewPortSet([]PortRange{r(udp, 1, 65535)}, []PortName{dns}), udpAll},
		{"union", a.Union(NewPortSet([]PortRange{r(tcp, 301, 400)}, []PortName{{Protocol: tcp, Name: "ssh"}})),
			PortSet{Ranges: []PortRange{r(tcp, 100, 400), r(udp, 53, 53)}, Names: []PortName{https, {Protocol: tcp, Name: "ssh"}, dns}}},
		{"union with all", a.Union(AllPorts()), AllPorts()},
		{"minus a hole", a.Minus(NewPortSet([]PortRange{r(tcp, 150, 150)}, nil)),
			PortSet{Ranges: []PortRange{r(tcp, 100, 149), r(tcp, 151, 300), r(udp, 53, 53)}, Names: []PortName{https, dns}}},
		{"minus everything", a.Minus(AllPorts()), PortSet{}},
		{"minus a name removes that name and no number", a.Minus(NewPortSet(nil, []PortName{https})),
			PortSet{Ranges: []PortRange{r(tcp, 100, 300), r(udp, 53, 53)}, Names: []PortName{dns}}},
		{"minus every port of a protocol removes its names", a.Minus(udpAll),
			PortSet{Ranges: []PortRange{r(tcp, 100, 300)}, Names: []PortName{https}}},
		{"a name does not cover a number, nor a number a name", NewPortSet([]PortRange{r(tcp, 443, 443)}, []PortName{https}).Minus(NewPortSet([]PortRange{r(tcp, 443, 443)}, nil)),
			NewPortSet(nil, []PortName{https})},
		{"intersect", a.Intersect(NewPortSet([]PortRange{r(tcp, 1, 120), r(udp, 1, 65535)}, []PortName{https})),
			PortSet{Ranges: []PortRange{r(tcp, 100, 120), r(udp, 53, 53)}, Names: []PortName{https, dns}}},
		{"intersect leaves out a name against a partial range", NewPortSet(nil, []PortName{https}).Intersect(NewPortSet([]PortRange{r(tcp, 443, 443)}, nil)),
			PortSet{}},
		{"intersect with all", a.Intersect(AllPorts()), a},
	}
	for _, tc := range cases {
		if !tc.got.Equal(tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
	if got := a.String(); got != `TCP/100-300, UDP/53, TCP/"https", UDP/"dns"` {
		t.Errorf("String() = %q", got)
	}
	if got := (PortSet{}).Strings(); got == nil || len(got) != 0 {
		t.Errorf("Strings() of the empty set = %#v, want an empty, non-nil list", got)
	}
	if empty := NewPortSet(nil, []PortName{https}); empty.Empty() || empty.All() {
		t.Error("a set of one name reported as empty or all")
	}
	if a.Contains(p(tcp, 443)) {
		t.Error("a name is taken for the number 443")
	}
}

// TestNamespacePolicies: every policy opening any port of the set is
// named, not only those of its first port, and a policy opening a named
// port is not named for a number.
func TestNamespacePolicies(t *testing.T) {
	e := newFixture(t,
		pol("prod", "default-deny", sel()),
		pol("prod", "ssh", sel(), ingressRules(onPorts(port(tcp, 22)))),
		pol("prod", "telnet", sel(), ingressRules(onPorts(port(tcp, 23)))),
		pol("prod", "web", sel(), ingressRules(onPorts(port(tcp, 8080)))),
		pol("prod", "https", sel(), ingressRules(onPorts(namedPort("", "https")))),
	)
	r := func(from, to int32) PortRange { return PortRange{Protocol: tcp, From: from, To: to} }
	cases := []struct {
		name  string
		ports PortSet
		want  []string
	}{
		{"one range over two policies", NewPortSet([]PortRange{r(22, 23)}, nil), []string{"prod/ssh", "prod/telnet"}},
		{"two ranges", NewPortSet([]PortRange{r(22, 22), r(8080, 8080)}, nil), []string{"prod/ssh", "prod/web"}},
		{"a range inside an interval", NewPortSet([]PortRange{r(8080, 8080)}, nil), []string{"prod/web"}},
		{"a name", NewPortSet(nil, []PortName{{Protocol: tcp, Name: "https"}}), []string{"prod/https"}},
		{"a port nothing opens", NewPortSet([]PortRange{r(25, 25)}, nil), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.NamespacePolicies("staging", "prod", tc.ports); !sameList(got, tc.want) {
				t.Errorf("NamespacePolicies(%s) = %v, want %v", tc.ports, got, tc.want)
			}
		})
	}
}

// TestNamespaceAllowedName: the destination's port of a name is allowed by
// a rule naming it or every port of its protocol, exactly; by a numbered
// range only as a guess; never by another name or protocol.
func TestNamespaceAllowedName(t *testing.T) {
	https := PortName{Name: "https"}
	cases := []struct {
		name             string
		rule             npPort
		want, exact      bool
		conditionSubtext string
	}{
		{name: "the same name", rule: namedPort(tcp, "https"), want: true, exact: true},
		{name: "every port of the protocol", rule: protoOnly(tcp), want: true, exact: true},
		{name: "a range it may fall in", rule: portRange(tcp, 8000, 8999), want: true, conditionSubtext: `named port "https" resolving into TCP/8000-8999`},
		{name: "another name", rule: namedPort(tcp, "ssh"), exact: true},
		{name: "the same name on another protocol", rule: namedPort(udp, "https"), exact: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newFixture(t, pol("prod", "default-deny", sel()), pol("prod", "rule", sel(), ingressRules(onPorts(tc.rule))))
			v := e.NamespaceAllowedName("staging", "prod", https)
			if v.Allowed != tc.want || v.Exact != tc.exact {
				t.Errorf("Allowed=%v Exact=%v, want %v/%v (%s; %s)", v.Allowed, v.Exact, tc.want, tc.exact, v.Reason, v.Assumption)
			}
			if tc.conditionSubtext != "" && !strings.Contains(strings.Join(v.Conditions, "; "), tc.conditionSubtext) {
				t.Errorf("Conditions %q lack %q", v.Conditions, tc.conditionSubtext)
			}
		})
	}
}

// TestNamespacePoliciesNameInRange: when only a numbered range may hold a
// name, the policies that allow it so are named rather than none.
func TestNamespacePoliciesNameInRange(t *testing.T) {
	e := newFixture(t,
		pol("prod", "default-deny", sel()),
		pol("prod", "https", sel(), ingressRules(onPorts(namedPort("", "https")))),
		pol("staging", "out", sel(), types("Egress"), egressRules(egRule{Ports: []npPort{portRange(tcp, 8000, 8999)}})),
	)
	got := e.NamespacePolicies("staging", "prod", NewPortSet(nil, []PortName{{Name: "https"}}))
	if want := []string{"prod/https", "staging/out"}; !sameList(got, want) {
		t.Errorf("NamespacePolicies = %v, want %v", got, want)
	}
}

// TestAllowedPortsClusterPolicyRules: a ClusterNetworkPolicy rule's ports
// split the port range as a NetworkPolicy's do, so an Admin Deny of one
// port is not hidden inside an interval that is otherwise allowed.
func TestAllowedPortsClusterPolicyRules(t *testing.T) {
	e := New(Cluster{Namespaces: fixtureNamespaces, Pods: fixturePods, ClusterNetworkPolicies: []npav1beta1.ClusterNetworkPolicy{
		cnp("no-ssh", npav1beta1.AdminTier, 10, prodLabels, cnpFrom(npav1beta1.ClusterNetworkPolicyRuleActionDeny, map[string]string{"tier": "staging"}, cnpTCP(22))),
	}})
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	got := e.AllowedPorts(ep(stagingWeb), ep(prodWeb))
	if got.Contains(Port{Protocol: tcp, Port: 22}) || !got.Contains(Port{Protocol: tcp, Port: 21}) || !got.Contains(Port{Protocol: tcp, Port: 23}) {
		t.Fatalf("AllowedPorts = %q, want every port but TCP/22", got)
	}
}
