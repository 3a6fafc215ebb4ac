package evaluate

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Short names keep the policy tables readable.
type (
	np      = networkingv1.NetworkPolicy
	inRule  = networkingv1.NetworkPolicyIngressRule
	egRule  = networkingv1.NetworkPolicyEgressRule
	npPeer  = networkingv1.NetworkPolicyPeer
	npPort  = networkingv1.NetworkPolicyPort
	specMod = func(*networkingv1.NetworkPolicySpec)
)

const (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP
)

// sel builds a matchLabels selector; no arguments gives the empty
// selector {}, which is not the same as an absent (nil) one.
func sel(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	if len(kv) > 0 {
		s.MatchLabels = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func expr(key string, op metav1.LabelSelectorOperator, vals ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: vals}}}
}

func pol(ns, name string, podSel *metav1.LabelSelector, mods ...specMod) np {
	p := np{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	p.Spec.PodSelector = *podSel
	for _, m := range mods {
		m(&p.Spec)
	}
	return p
}

func types(ts ...networkingv1.PolicyType) specMod {
	return func(s *networkingv1.NetworkPolicySpec) { s.PolicyTypes = ts }
}

func ingressRules(rs ...inRule) specMod {
	return func(s *networkingv1.NetworkPolicySpec) {
		// Always non-nil: "ingress: []" is a present, empty list.
		s.Ingress = append([]inRule{}, rs...)
	}
}

func egressRules(rs ...egRule) specMod {
	return func(s *networkingv1.NetworkPolicySpec) { s.Egress = append([]egRule{}, rs...) }
}

func from(peers ...npPeer) inRule { return inRule{From: peers} }

func to(peers ...npPeer) egRule { return egRule{To: peers} }

func onPorts(ports ...npPort) inRule { return inRule{Ports: ports} }

func podPeer(s *metav1.LabelSelector) npPeer { return npPeer{PodSelector: s} }

func nsPeer(s *metav1.LabelSelector) npPeer { return npPeer{NamespaceSelector: s} }

func nsPodPeer(ns, pod *metav1.LabelSelector) npPeer {
	return npPeer{NamespaceSelector: ns, PodSelector: pod}
}

func block(cidr string, except ...string) npPeer {
	return npPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func protoPtr(p corev1.Protocol) *corev1.Protocol {
	if p == "" {
		return nil
	}
	return &p
}

// port builds a numeric port; an empty protocol leaves it nil to exercise
// the TCP default.
func port(proto corev1.Protocol, n int32) npPort {
	v := intstr.FromInt32(n)
	return npPort{Protocol: protoPtr(proto), Port: &v}
}

func portRange(proto corev1.Protocol, lo, hi int32) npPort {
	p := port(proto, lo)
	p.EndPort = &hi
	return p
}

func namedPort(proto corev1.Protocol, name string) npPort {
	v := intstr.FromString(name)
	return npPort{Protocol: protoPtr(proto), Port: &v}
}

func protoOnly(proto corev1.Protocol) npPort { return npPort{Protocol: protoPtr(proto)} }

func p(proto corev1.Protocol, n int32) Port { return Port{Protocol: proto, Port: n} }

// The fixture: three tiers, a monitoring namespace, and a namespace
// ("legacy") that has pods but is missing from the namespace list.
var (
	fixtureNamespaces = []Namespace{
		{Name: "prod", Labels: map[string]string{"tier": "prod"}},
		{Name: "staging", Labels: map[string]string{"tier": "staging"}},
		{Name: "dev", Labels: map[string]string{"tier": "dev"}},
		{Name: "monitoring", Labels: map[string]string{"purpose": "monitoring"}},
	}
	prodWeb = Pod{Namespace: "prod", Name: "web", Labels: map[string]string{"app": "web", "tier": "prod"}, IP: "10.1.0.10",
		NamedPorts: []NamedPort{{Name: "http", Protocol: tcp, Port: 8080}, {Name: "dns", Protocol: udp, Port: 53}, {Name: "metrics", Port: 9090}}}
	prodDB = Pod{Namespace: "prod", Name: "db", Labels: map[string]string{"app": "db"}, IP: "10.1.0.20",
		NamedPorts: []NamedPort{{Name: "http", Protocol: tcp, Port: 9000}, {Name: "pg", Protocol: tcp, Port: 5432}}}
	prodWorker = Pod{Namespace: "prod", Name: "worker", Labels: map[string]string{"app": "worker"}, IP: "10.1.0.30"}
	prodNoIP   = Pod{Namespace: "prod", Name: "pending", Labels: map[string]string{"app": "pending"}}
	stagingWeb = Pod{Namespace: "staging", Name: "web", Labels: map[string]string{"app": "web", "env": "qa"}, IP: "10.2.0.10"}
	stagingJob = Pod{Namespace: "staging", Name: "job", Labels: map[string]string{"app": "job"}, IP: "10.2.0.11"}
	devTool    = Pod{Namespace: "dev", Name: "tool", Labels: map[string]string{"app": "tool"}, IP: "fd00::10"}
	monProm    = Pod{Namespace: "monitoring", Name: "prom", Labels: map[string]string{"app": "prometheus"}, IP: "10.3.0.5"}
	legacyWeb  = Pod{Namespace: "legacy", Name: "old", Labels: map[string]string{"app": "web"}, IP: "10.9.0.1"}

	fixturePods = []Pod{prodWeb, prodDB, prodWorker, prodNoIP, stagingWeb, stagingJob, devTool, monProm, legacyWeb}
)

func newFixture(t *testing.T, policies ...np) *Evaluator {
	t.Helper()
	e := New(Cluster{Namespaces: fixtureNamespaces, Pods: fixturePods, Policies: policies})
	if err := e.Err(); err != nil {
		t.Fatalf("fixture policies must be valid: %v", err)
	}
	return e
}

func ep(pod Pod) Endpoint { return PodEndpoint(pod) }

func sameList(got, want []string) bool {
	return slices.Equal(got, want) || (len(got) == 0 && len(want) == 0)
}
