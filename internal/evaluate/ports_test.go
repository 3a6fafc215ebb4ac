package evaluate

import (
	"testing"
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
		{name: "named port may be any number, so it is possible but not certain", policies: []np{denyAll, pol("prod", "named", sel(), ingressRules(onPorts(namedPort("", "http"), port(tcp, 443))))},
			possible: "TCP/all", sure: "TCP/443"},
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
