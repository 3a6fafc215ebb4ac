package render_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

// A connectivity scenario is a profile, the cluster's namespaces, and the
// intended membership written out by hand: which namespace is in which tier
// and which are shared. The expected matrix is derived from these and the
// profile's own fields by intendedModel, which restates the specification;
// it never looks at what render produced.
type connectivityScenario struct {
	name       string
	profile    string
	namespaces []render.Namespace
	tiers      map[string]string // governed namespace -> tier
	shared     []string
}

// Pod addresses come from 10.244.0.0/16: private, so that the scenarios'
// CIDRs (public ranges, or 0.0.0.0/0 except private ones) never contain a
// pod, and ipBlocks only decide for the external addresses below.
var externalAddresses = []string{"203.0.113.7", "198.51.100.7", "198.51.100.200", "8.8.8.8"}

// probePorts cover every kind of port the scenarios' flows use: single
// ports, ranges and their edges, named ports (https is 8443 and metrics is
// 9090 on every pod), DNS on both protocols, and other protocols.
var probePorts = []evaluate.Port{
	{Protocol: corev1.ProtocolTCP, Port: 443},
	{Protocol: corev1.ProtocolTCP, Port: 7999},
	{Protocol: corev1.ProtocolTCP, Port: 8000},
	{Protocol: corev1.ProtocolTCP, Port: 8080},
	{Protocol: corev1.ProtocolTCP, Port: 8081},
	{Protocol: corev1.ProtocolTCP, Port: 8443},
	{Protocol: corev1.ProtocolTCP, Port: 9090},
	{Protocol: corev1.ProtocolTCP, Port: 53},
	{Protocol: corev1.ProtocolUDP, Port: 53},
	{Protocol: corev1.ProtocolUDP, Port: 443},
	{Protocol: corev1.ProtocolSCTP, Port: 9000},
}

func connectivityScenarios(t *testing.T) []connectivityScenario {
	fixture := loadNamespaces(t, "testdata/namespaces.yaml")
	sample := func(name string) string {
		data, err := os.ReadFile("../../config/samples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	return []connectivityScenario{
		{
			name: "egress off, Namespace isolation, flow on one port, shared by name",
			profile: `
metadata: {name: company}
spec:
  tiers:
  - name: dev
    namespaces: {names: [sandbox], selector: {matchLabels: {env: dev}}}
  - name: test
    namespaces: {selector: {matchLabels: {env: test}}}
    allowedIngressCIDRs: [{cidr: 203.0.113.0/24}]
  - name: prod
    namespaces: {selector: {matchLabels: {env: prod}}}
    isolation: Namespace
  flows:
  - {from: dev, to: test, ports: [{protocol: TCP, port: 443}]}
  sharedNamespaces: {names: [ingress-nginx]}
`,
			namespaces: []render.Namespace{
				ns("sandbox"), ns("dev-a", "env=dev"), ns("dev-b", "env=dev"), ns("test-a", "env=test"),
				ns("prod-a", "env=prod"), ns("prod-b", "env=prod"), ns("ingress-nginx"), ns("default"), ns("kube-system"),
			},
			tiers: map[string]string{
				"sandbox": "dev", "dev-a": "dev", "dev-b": "dev", "test-a": "test", "prod-a": "prod", "prod-b": "prod",
			},
			shared: []string{"ingress-nginx"},
		},
		{
			name: "egress on with DNS, port ranges, named and UDP ports, shared by selector",
			profile: `
metadata: {name: company}
spec:
  tierLabelKey: example.com/tier
  tiers:
  - {name: dev, namespaces: {selector: {matchLabels: {env: dev}}}}
  - name: test
    namespaces: {selector: {matchExpressions: [{key: env, operator: In, values: [test, qa]}]}}
  - name: prod
    namespaces: {selector: {matchLabels: {env: prod}}}
    isolation: Namespace
    allowedIngressCIDRs: [{cidr: 198.51.100.0/24, except: [198.51.100.128/25]}]
  flows:
  - from: dev
    to: test
    ports: [{protocol: TCP, port: 443}, {protocol: TCP, port: 8000, endPort: 8080}]
  - from: test
    to: prod
    ports: [{port: https}, {protocol: UDP, port: 53}]
  - {from: prod, to: dev}
  sharedNamespaces: {selector: {matchLabels: {shared: "true"}}}
  egress:
    isolation: Tier
    allowedCIDRs: [{cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 8.8.8.0/24]}]
`,
			namespaces: []render.Namespace{
				ns("dev-a", "env=dev"), ns("dev-b", "env=dev"), ns("test-a", "env=test"), ns("qa-a", "env=qa"),
				ns("prod-a", "env=prod"), ns("prod-b", "env=prod"), ns("monitoring", "shared=true"),
				ns("tools", "env=staging"), ns("kube-system"),
			},
			tiers: map[string]string{
				"dev-a": "dev", "dev-b": "dev", "test-a": "test", "qa-a": "test", "prod-a": "prod", "prod-b": "prod",
			},
			shared: []string{"monitoring"},
		},
		{
			name: "egress on without DNS, all-port flows, shared by name and selector",
			profile: `
metadata: {name: company}
spec:
  tiers:
  - {name: a, namespaces: {names: [a-1, a-2]}, isolation: Namespace}
  - name: b
    namespaces: {names: [b-1, b-2]}
    allowedIngressCIDRs: [{cidr: 8.8.8.8/32}]
  flows:
  - {from: a, to: b}
  - {from: b, to: a, ports: [{protocol: SCTP, port: 9000}, {port: metrics}]}
  sharedNamespaces:
    names: [ingress]
    selector: {matchLabels: {shared: "true"}}
  egress: {isolation: Tier, allowDNS: false, allowedCIDRs: [{cidr: 203.0.113.0/24}]}
`,
			namespaces: []render.Namespace{
				ns("a-1"), ns("a-2"), ns("b-1"), ns("b-2"), ns("ingress"), ns("monitoring", "shared=true"),
				ns("default"), ns("kube-system"),
			},
			tiers:  map[string]string{"a-1": "a", "a-2": "a", "b-1": "b", "b-2": "b"},
			shared: []string{"ingress", "monitoring"},
		},
		{
			name:       "sample profile with the namespaces fixture",
			profile:    sample("segmentation_v1alpha1_segmentationprofile.yaml"),
			namespaces: fixture,
			tiers: map[string]string{
				"app-dev": "dev", "sandbox": "dev", "shared-tools": "dev",
				"shop-test": "test", "shop-prod": "prod", "billing-prod": "prod",
			},
			shared: []string{"ingress-nginx", "monitoring"},
		},
		{
			name:       "egress sample profile with the namespaces fixture",
			profile:    sample("segmentation_v1alpha1_segmentationprofile_egress.yaml"),
			namespaces: fixture,
			tiers: map[string]string{
				"app-dev": "dev", "legacy": "dev",
				"shop-test": "test", "qa": "test", "shop-prod": "prod", "billing-prod": "prod",
			},
			// shared-tools is also matched by tier dev: treated as shared only.
			shared: []string{"ingress-nginx", "monitoring", "shared-tools"},
		},
	}
}

// TestConnectivityMatchesIntent checks, with an independent NetworkPolicy
// evaluator, that the rendered policies allow exactly the intended traffic
// between every pair of pods, and between pods and external addresses.
func TestConnectivityMatchesIntent(t *testing.T) {
	for _, sc := range connectivityScenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			profile := profileYAML(t, sc.profile)
			plan, err := render.Compute(render.Input{Profile: profile, Namespaces: sc.namespaces, OperatorNamespace: "tierguard-system"})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if got := governedTiers(plan); !mapsEqual(got, sc.tiers) {
				t.Fatalf("governed = %v, want %v", got, sc.tiers)
			}
			cluster := appliedCluster(plan, sc.namespaces)
			ev := evaluate.New(cluster)
			if err := ev.Err(); err != nil {
				t.Fatalf("the evaluator rejected rendered policies: %v", err)
			}
			model := intendedModel(profile, sc.tiers, sc.shared)

			var endpoints []evaluate.Endpoint
			for _, p := range cluster.Pods {
				endpoints = append(endpoints, evaluate.PodEndpoint(p))
			}
			for _, ip := range externalAddresses {
				endpoints = append(endpoints, evaluate.IPEndpoint(ip))
			}
			var allowed, denied, mismatches int
			for _, from := range endpoints {
				for _, to := range endpoints {
					if from.String() == to.String() || (isExternal(from) && isExternal(to)) {
						continue
					}
					for _, port := range probePorts {
						want := model.allows(from, to, port)
						v := ev.Allowed(from, to, port)
						if want {
							allowed++
						} else {
							denied++
						}
						if v.Allowed != want {
							mismatches++
							if mismatches <= 20 {
								t.Errorf("%s -> %s on %s: evaluator says %v, intended %v (%s)", from, to, port, v.Allowed, want, v.Reason)
							}
						}
					}
				}
			}
			if mismatches > 20 {
				t.Errorf("... %d mismatches in all", mismatches)
			}
			// Guard against a scenario that proves nothing.
			if allowed < 100 || denied < 100 {
				t.Errorf("only %d allowed and %d denied connections checked", allowed, denied)
			}
		})
	}
}

// appliedCluster is the cluster after Tierguard applied the plan: governed
// namespaces carry the merged labels and their policy; each namespace has two
// pods, and kube-system has CoreDNS next to another pod.
func appliedCluster(plan *render.Plan, namespaces []render.Namespace) evaluate.Cluster {
	var c evaluate.Cluster
	named := []evaluate.NamedPort{{Name: "https", Port: 8443}, {Name: "metrics", Port: 9090}}
	for i, n := range namespaces {
		labels := n.Labels
		if g := plan.Lookup(n.Name); g != nil {
			labels = render.MergedLabels(n.Labels, g.Labels)
			c.Policies = append(c.Policies, *g.Policy)
		}
		c.Namespaces = append(c.Namespaces, evaluate.Namespace{Name: n.Name, Labels: labels})
		pods := []evaluate.Pod{
			{Name: "a", Labels: map[string]string{"app": "a"}},
			{Name: "b", Labels: map[string]string{"app": "b"}},
		}
		if n.Name == "kube-system" {
			pods = []evaluate.Pod{
				{Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}},
				{Name: "metrics-server", Labels: map[string]string{"k8s-app": "metrics-server"}},
			}
		}
		for j, p := range pods {
			p.Namespace = n.Name
			p.IP = fmt.Sprintf("10.244.%d.%d", i, j+1)
			p.NamedPorts = named
			c.Pods = append(c.Pods, p)
		}
	}
	return c
}

func isExternal(e evaluate.Endpoint) bool {
	_, ok := e.Pod()
	return !ok
}

// model is the specification's intended connectivity for one profile.
type model struct {
	tiers       map[string]string
	shared      map[string]bool
	isolation   map[string]segv1.IsolationLevel
	ingressCIDR map[string][]segv1.IPBlock
	flows       []segv1.Flow
	egressTier  bool
	allowDNS    bool
	egressCIDR  []segv1.IPBlock
}

func intendedModel(p *segv1.SegmentationProfile, tiers map[string]string, shared []string) model {
	m := model{
		tiers:       tiers,
		shared:      map[string]bool{},
		isolation:   map[string]segv1.IsolationLevel{},
		ingressCIDR: map[string][]segv1.IPBlock{},
		flows:       p.Spec.Flows,
		egressTier:  p.Spec.Egress.Isolation == segv1.EgressIsolationTier,
		allowDNS:    p.Spec.Egress.AllowDNS == nil || *p.Spec.Egress.AllowDNS,
		egressCIDR:  p.Spec.Egress.AllowedCIDRs,
	}
	for _, s := range shared {
		m.shared[s] = true
	}
	for _, t := range p.Spec.Tiers {
		m.isolation[string(t.Name)] = t.Isolation
		if t.Isolation == "" {
			m.isolation[string(t.Name)] = segv1.IsolationTier
		}
		m.ingressCIDR[string(t.Name)] = t.AllowedIngressCIDRs
	}
	return m
}

// allows: the destination's ingress and the source's egress must both allow.
func (m model) allows(from, to evaluate.Endpoint, port evaluate.Port) bool {
	return m.ingressAllows(from, to, port) && m.egressAllows(from, to, port)
}

// ingressAllows restates "traffic A to B is allowed by B's ingress when A =
// B, or a = b and b's isolation is Tier, or A is shared, or a flow a to b
// covers the port", plus the tier's allowedIngressCIDRs for addresses.
func (m model) ingressAllows(from, to evaluate.Endpoint, port evaluate.Port) bool {
	dst, _ := to.Pod()
	b, governed := m.tiers[dst.Namespace]
	if isExternal(to) || !governed {
		return true // nothing isolates B
	}
	if isExternal(from) {
		return cidrsContain(m.ingressCIDR[b], from)
	}
	src, _ := from.Pod()
	a, aGoverned := m.tiers[src.Namespace]
	switch {
	case src.Namespace == dst.Namespace:
		return true
	case aGoverned && a == b && m.isolation[b] == segv1.IsolationTier:
		return true
	case m.shared[src.Namespace]:
		return true
	case aGoverned && m.flowCovers(a, b, port, dst):
		return true
	}
	return false
}

// egressAllows restates the egress half: only a governed A under egress
// isolation is restricted, to A = B, a = b with Tier isolation, B shared, a
// flow a to b covering the port, kube-system DNS on 53, or allowedCIDRs.
func (m model) egressAllows(from, to evaluate.Endpoint, port evaluate.Port) bool {
	src, _ := from.Pod()
	a, governed := m.tiers[src.Namespace]
	if isExternal(from) || !governed || !m.egressTier {
		return true
	}
	if isExternal(to) {
		return cidrsContain(m.egressCIDR, to)
	}
	dst, _ := to.Pod()
	b, bGoverned := m.tiers[dst.Namespace]
	switch {
	case src.Namespace == dst.Namespace:
		return true
	case bGoverned && a == b && m.isolation[a] == segv1.IsolationTier:
		return true
	case m.shared[dst.Namespace]:
		return true
	case bGoverned && m.flowCovers(a, b, port, dst):
		return true
	case m.allowDNS && dst.Namespace == "kube-system" && dst.Labels["k8s-app"] == "kube-dns" && port.Port == 53 &&
		(port.Protocol == corev1.ProtocolUDP || port.Protocol == corev1.ProtocolTCP):
		return true
	}
	return false
}

// flowCovers: a flow without ports covers every port; a port without a
// number covers its protocol; a named port is resolved on the destination.
func (m model) flowCovers(from, to string, port evaluate.Port, dst evaluate.Pod) bool {
	for _, f := range m.flows {
		if string(f.From) != from || string(f.To) != to {
			continue
		}
		if len(f.Ports) == 0 {
			return true
		}
		for _, fp := range f.Ports {
			proto := corev1.Protocol(fp.Protocol)
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if proto != port.Protocol {
				continue
			}
			switch {
			case fp.Port == nil:
				return true
			case fp.Port.Type == intstr.String:
				if slices.ContainsFunc(dst.NamedPorts, func(n evaluate.NamedPort) bool {
					np := n.Protocol
					if np == "" {
						np = corev1.ProtocolTCP
					}
					return n.Name == fp.Port.StrVal && np == proto && n.Port == port.Port
				}) {
					return true
				}
			default:
				end := fp.Port.IntVal
				if fp.EndPort != nil {
					end = *fp.EndPort
				}
				if port.Port >= fp.Port.IntVal && port.Port <= end {
					return true
				}
			}
		}
	}
	return false
}

// cidrsContain reports whether an address lies in a block and outside its
// exceptions.
func cidrsContain(blocks []segv1.IPBlock, e evaluate.Endpoint) bool {
	addr := netip.MustParseAddr(endpointIP(e))
	for _, b := range blocks {
		if !netip.MustParsePrefix(b.CIDR).Contains(addr) {
			continue
		}
		if !slices.ContainsFunc(b.Except, func(x string) bool { return netip.MustParsePrefix(x).Contains(addr) }) {
			return true
		}
	}
	return false
}

// endpointIP recovers an external endpoint's address; Endpoint keeps it
// private, and its String is "address <ip>".
func endpointIP(e evaluate.Endpoint) string {
	ip, ok := strings.CutPrefix(e.String(), "address ")
	if !ok {
		panic("not an external endpoint: " + e.String())
	}
	return ip
}
