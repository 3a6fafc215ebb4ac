package differential

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// generator draws small random clusters whose labels, names, ports and
// addresses come from small pools, so that selectors, peers and ports
// match often enough for the interesting cases (ties, overlaps, edges of
// ranges) to be frequent.
type generator struct {
	r  *rand.Rand
	v6 bool
	c  *cluster
}

var (
	labelValues    = []string{"a", "b", "c"}
	namespaceKeys  = []string{"env", "team", "app"}
	podKeys        = []string{"app", "role", "env"}
	portNames      = []string{"http", "metrics", "dns", "grpc"}
	portPool       = []int32{1, 53, 80, 443, 8080, 8443, 9090, 65535}
	protocols      = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	selectorOps    = []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}
	cnpActions     = []npav1beta1.ClusterNetworkPolicyRuleAction{npav1beta1.ClusterNetworkPolicyRuleActionAccept, npav1beta1.ClusterNetworkPolicyRuleActionDeny, npav1beta1.ClusterNetworkPolicyRuleActionPass}
	cnpPriorities  = []int32{0, 1, 5, 5, 10, 1000}
	cnpPolicyNames = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}
)

// generateCluster draws one cluster from seed.
func generateCluster(seed uint64) *cluster {
	g := &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), c: &cluster{}}
	g.v6 = g.chance(0.2)
	for i := range 2 + g.r.IntN(3) {
		ns := namespace{Name: fmt.Sprintf("ns-%c", 'a'+i), Labels: g.labels(namespaceKeys)}
		g.c.Namespaces = append(g.c.Namespaces, ns)
		for j := range 1 + g.r.IntN(3) {
			g.c.Pods = append(g.c.Pods, g.pod(ns.Name, i, j))
		}
	}
	if g.v6 {
		g.c.External = []string{"2001:db8::7", "fd00:2::9"}
	} else {
		g.c.External = []string{"192.168.7.7", "10.2.0.9", "8.8.8.8"}
	}
	for i := range g.r.IntN(6) {
		ns := g.pick(g.namespaceNames())
		g.c.Policies = append(g.c.Policies, g.networkPolicy(ns, fmt.Sprintf("np-%d", i)))
	}
	names := slices.Clone(cnpPolicyNames)
	g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	cnps := 1 + g.r.IntN(len(names))
	if g.chance(0.15) {
		cnps = 0
	}
	for i := range cnps {
		g.c.ClusterPolicies = append(g.c.ClusterPolicies, g.clusterPolicy(names[i]))
	}
	return g.c
}

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func pickFrom[T any](g *generator, xs []T) T { return xs[g.r.IntN(len(xs))] }

func (g *generator) pick(xs []string) string { return pickFrom(g, xs) }

func (g *generator) namespaceNames() []string {
	var out []string
	for _, ns := range g.c.Namespaces {
		out = append(out, ns.Name)
	}
	return out
}

func (g *generator) labels(keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if g.chance(0.5) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = g.pick(labelValues)
		}
	}
	return out
}

func (g *generator) pod(ns string, nsIndex, podIndex int) pod {
	ip := fmt.Sprintf("10.1.%d.%d", nsIndex, 10+podIndex)
	if g.v6 {
		ip = fmt.Sprintf("fd00:1:%d::%d", nsIndex, 10+podIndex)
	}
	// The canonical form, as pod IPs are stored and as the engine's
	// provider looks them up (net.IP.String of the packet's address).
	ip = netip.MustParseAddr(ip).String()
	p := pod{Namespace: ns, Name: fmt.Sprintf("pod-%d", podIndex), Labels: g.labels(podKeys), IP: ip}
	names := slices.Clone(portNames)
	g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, name := range names[:g.r.IntN(4)] {
		cp := containerPort{Name: name, Port: g.portNumber()}
		if g.chance(0.6) {
			cp.Protocol = pickFrom(g, protocols)
		}
		p.Ports = append(p.Ports, cp)
	}
	return p
}

func (g *generator) portNumber() int32 {
	if g.chance(0.7) {
		return pickFrom(g, portPool)
	}
	return 1 + g.r.Int32N(65535)
}

// selector draws a label selector over keys, with every operator; on
// namespaces it sometimes uses the kubernetes.io/metadata.name label the
// API server stamps.
func (g *generator) selector(keys []string, namespaces bool) *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	if g.chance(0.3) {
		return s
	}
	values := labelValues
	if namespaces && g.chance(0.25) {
		keys, values = []string{corev1.LabelMetadataName}, g.namespaceNames()
	}
	for range g.r.IntN(3) {
		if g.chance(0.5) {
			if s.MatchLabels == nil {
				s.MatchLabels = map[string]string{}
			}
			s.MatchLabels[g.pick(keys)] = g.pick(values)
			continue
		}
		req := metav1.LabelSelectorRequirement{Key: g.pick(keys), Operator: pickFrom(g, selectorOps)}
		if req.Operator == metav1.LabelSelectorOpIn || req.Operator == metav1.LabelSelectorOpNotIn {
			for range 1 + g.r.IntN(2) {
				req.Values = append(req.Values, g.pick(values))
			}
		}
		s.MatchExpressions = append(s.MatchExpressions, req)
	}
	return s
}

// addresses are the cluster's pod and external addresses.
func (g *generator) addresses() []netip.Addr {
	var out []netip.Addr
	for _, p := range g.c.Pods {
		out = append(out, netip.MustParseAddr(p.IP))
	}
	for _, ip := range g.c.External {
		out = append(out, netip.MustParseAddr(ip))
	}
	return out
}

// prefix draws a CIDR: mostly one around a known address, at a random
// length, so that it holds some pods and not others; sometimes everything,
// sometimes the other address family.
func (g *generator) prefix() netip.Prefix {
	v6 := g.v6
	switch {
	case g.chance(0.1):
		v6 = !v6
	case g.chance(0.1):
		if v6 {
			return netip.MustParsePrefix("::/0")
		}
		return netip.MustParsePrefix("0.0.0.0/0")
	}
	if v6 != g.v6 {
		if v6 {
			return netip.MustParsePrefix("fd00::/8")
		}
		return netip.MustParsePrefix("10.0.0.0/8")
	}
	a := pickFrom(g, g.addresses())
	bits := a.BitLen()
	// Lengths near the host end split pods apart; shorter ones group them.
	n := bits - g.r.IntN(bits/2+1)
	if g.chance(0.3) {
		n = bits - g.r.IntN(bits+1)
	}
	return netip.PrefixFrom(a, n).Masked()
}

// except draws a strict subset of cidr, around an address inside it when
// there is one.
func (g *generator) except(cidr netip.Prefix) (netip.Prefix, bool) {
	bits := cidr.Addr().BitLen()
	if cidr.Bits() == bits {
		return netip.Prefix{}, false
	}
	var inside []netip.Addr
	for _, a := range g.addresses() {
		if cidr.Contains(a) {
			inside = append(inside, a)
		}
	}
	a := cidr.Addr()
	if len(inside) > 0 {
		a = pickFrom(g, inside)
	}
	n := cidr.Bits() + 1 + g.r.IntN(bits-cidr.Bits())
	return netip.PrefixFrom(a, n).Masked(), true
}

func (g *generator) networkPolicy(ns, name string) networkingv1.NetworkPolicy {
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	np.Spec.PodSelector = *g.selector(podKeys, false)
	switch g.r.IntN(5) {
	case 0:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	case 1:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	case 2:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	case 3:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}
	default:
		// Left to the API server's defaulting.
	}
	for range g.ruleCount() {
		peers, ports := g.npRule(false)
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peers, Ports: ports})
	}
	for range g.ruleCount() {
		peers, ports := g.npRule(true)
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: ports})
	}
	return np
}

// ruleCount is the number of rules of one direction: none is common, as
// it is what an isolating ("deny") policy has.
func (g *generator) ruleCount() int {
	if g.chance(0.35) {
		return 0
	}
	return 1 + g.r.IntN(3)
}

func (g *generator) npRule(egress bool) ([]networkingv1.NetworkPolicyPeer, []networkingv1.NetworkPolicyPort) {
	var peers []networkingv1.NetworkPolicyPeer
	if g.chance(0.7) {
		for range 1 + g.r.IntN(3) {
			peers = append(peers, g.npPeer())
		}
	}
	var ports []networkingv1.NetworkPolicyPort
	if g.chance(0.6) {
		for range 1 + g.r.IntN(3) {
			ports = append(ports, g.npPort())
		}
	}
	return peers, ports
}

func (g *generator) npPeer() networkingv1.NetworkPolicyPeer {
	switch g.r.IntN(5) {
	case 0:
		return networkingv1.NetworkPolicyPeer{PodSelector: g.selector(podKeys, false)}
	case 1:
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: g.selector(namespaceKeys, true)}
	case 2:
		return networkingv1.NetworkPolicyPeer{PodSelector: g.selector(podKeys, false), NamespaceSelector: g.selector(namespaceKeys, true)}
	}
	cidr := g.prefix()
	block := &networkingv1.IPBlock{CIDR: g.legacyCIDR(cidr)}
	for range g.r.IntN(3) {
		if x, ok := g.except(cidr); ok && !slices.Contains(block.Except, x.String()) {
			block.Except = append(block.Except, g.legacyCIDR(x))
		}
	}
	return networkingv1.NetworkPolicyPeer{IPBlock: block}
}

// legacyCIDR writes p, now and then with host bits set: ipBlock is a
// legacy CIDR field, which the API server accepts with host bits (and a
// warning) unless the StrictIPCIDRValidation gate is on, and both engines
// must ignore them.
func (g *generator) legacyCIDR(p netip.Prefix) string {
	if !g.chance(0.15) || p.Bits() == p.Addr().BitLen() {
		return p.String()
	}
	var inside []netip.Addr
	for _, a := range g.addresses() {
		if p.Contains(a) && a != p.Addr() {
			inside = append(inside, a)
		}
	}
	if len(inside) == 0 {
		return p.String()
	}
	return netip.PrefixFrom(pickFrom(g, inside), p.Bits()).String()
}

func (g *generator) npPort() networkingv1.NetworkPolicyPort {
	var p networkingv1.NetworkPolicyPort
	if g.chance(0.7) {
		proto := pickFrom(g, protocols)
		p.Protocol = &proto
	}
	switch r := g.r.Float64(); {
	case r < 0.15:
		// Every port of the protocol.
	case r < 0.45:
		name := intstr.FromString(g.pick(portNames))
		p.Port = &name
	default:
		n := g.portNumber()
		num := intstr.FromInt32(n)
		p.Port = &num
		if g.chance(0.4) {
			end := n + g.r.Int32N(min(200, 65536-n))
			if g.chance(0.3) {
				end = n + g.r.Int32N(65536-n)
			}
			p.EndPort = &end
		}
	}
	return p
}

func (g *generator) clusterPolicy(name string) npav1beta1.ClusterNetworkPolicy {
	c := npav1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	c.Spec.Tier = npav1beta1.AdminTier
	if g.chance(0.5) {
		c.Spec.Tier = npav1beta1.BaselineTier
	}
	c.Spec.Priority = pickFrom(g, cnpPriorities)
	if g.chance(0.2) {
		c.Spec.Priority = g.r.Int32N(maxCNPPriority + 1)
	}
	if g.chance(0.5) {
		c.Spec.Subject.Namespaces = g.selector(namespaceKeys, true)
	} else {
		c.Spec.Subject.Pods = g.namespacedPod()
	}
	for i := range g.cnpRuleCount() {
		r := npav1beta1.ClusterNetworkPolicyIngressRule{Name: g.ruleName(i), Action: pickFrom(g, cnpActions), Protocols: g.cnpProtocols()}
		for range 1 + g.r.IntN(3) {
			var p npav1beta1.ClusterNetworkPolicyIngressPeer
			if g.chance(0.5) {
				p.Namespaces = g.selector(namespaceKeys, true)
			} else {
				p.Pods = g.namespacedPod()
			}
			r.From = append(r.From, p)
		}
		c.Spec.Ingress = append(c.Spec.Ingress, r)
	}
	for i := range g.cnpRuleCount() {
		r := npav1beta1.ClusterNetworkPolicyEgressRule{Name: g.ruleName(i), Action: pickFrom(g, cnpActions), Protocols: g.cnpProtocols()}
		for range 1 + g.r.IntN(3) {
			var p npav1beta1.ClusterNetworkPolicyEgressPeer
			switch g.r.IntN(3) {
			case 0:
				p.Namespaces = g.selector(namespaceKeys, true)
			case 1:
				p.Pods = g.namespacedPod()
			default:
				for range 1 + g.r.IntN(3) {
					if n := npav1beta1.CIDR(g.prefix().String()); !slices.Contains(p.Networks, n) {
						p.Networks = append(p.Networks, n)
					}
				}
			}
			r.To = append(r.To, p)
		}
		c.Spec.Egress = append(c.Spec.Egress, r)
	}
	return c
}

func (g *generator) cnpRuleCount() int {
	if g.chance(0.3) {
		return 0
	}
	n := 1 + g.r.IntN(3)
	if g.chance(0.02) {
		// Now and then the schema's limit.
		n = maxCNPRules
	}
	return n
}

func (g *generator) ruleName(i int) string {
	if g.chance(0.3) {
		return ""
	}
	return fmt.Sprintf("rule-%d", i)
}

func (g *generator) namespacedPod() *npav1beta1.NamespacedPod {
	return &npav1beta1.NamespacedPod{NamespaceSelector: *g.selector(namespaceKeys, true), PodSelector: *g.selector(podKeys, false)}
}

// cnpProtocols draws a rule's protocols: absent, or TCP, UDP or SCTP with
// a port or a range (the standard channel has no named ports, and each
// protocol needs its destinationPort).
func (g *generator) cnpProtocols() []npav1beta1.ClusterNetworkPolicyProtocol {
	if g.chance(0.45) {
		return nil
	}
	var out []npav1beta1.ClusterNetworkPolicyProtocol
	for range 1 + g.r.IntN(3) {
		port := &npav1beta1.Port{}
		if g.chance(0.5) {
			port.Number = g.portNumber()
		} else {
			start := 1 + g.r.Int32N(65534)
			if g.chance(0.5) {
				start = min(pickFrom(g, portPool), 65534)
			}
			end := start + 1 + g.r.Int32N(min(300, 65535-start))
			if g.chance(0.3) {
				end = start + 1 + g.r.Int32N(65535-start)
			}
			port.Range = &npav1beta1.PortRange{Start: start, End: end}
		}
		var p npav1beta1.ClusterNetworkPolicyProtocol
		switch pickFrom(g, protocols) {
		case corev1.ProtocolTCP:
			p.TCP = &npav1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: port}
		case corev1.ProtocolUDP:
			p.UDP = &npav1beta1.ClusterNetworkPolicyProtocolUDP{DestinationPort: port}
		default:
			p.SCTP = &npav1beta1.ClusterNetworkPolicyProtocolSCTP{DestinationPort: port}
		}
		out = append(out, p)
	}
	return out
}

// queries lists the connections asked about in c: every ordered pair of
// endpoints with at least one pod, each on the destination's named ports
// and on ports drawn from the edges of every port and range in the
// policies (n-1, n, n+1), over the three protocols.
func queries(c *cluster, r *rand.Rand, perPair int) []query {
	edges := portEdges(c)
	var out []query
	addrs := make([]string, 0, len(c.Pods)+len(c.External))
	for _, p := range c.Pods {
		addrs = append(addrs, p.IP)
	}
	addrs = append(addrs, c.External...)
	for _, from := range addrs {
		for _, to := range addrs {
			_, fromPod := c.podByIP(from)
			dst, toPod := c.podByIP(to)
			if (!fromPod && !toPod) || !sameFamily(from, to) {
				continue
			}
			for _, cp := range dst.Ports {
				out = append(out, query{From: from, To: to, Protocol: defaultProtocol(cp.Protocol), Port: cp.Port})
			}
			for range perPair {
				out = append(out, query{From: from, To: to, Protocol: protocols[r.IntN(len(protocols))], Port: edges[r.IntN(len(edges))]})
			}
		}
	}
	return out
}

func portEdges(c *cluster) []int32 {
	set := map[int32]bool{1: true, 65535: true, 80: true}
	around := func(lo, hi int32) {
		for _, n := range []int32{lo - 1, lo, hi, hi + 1} {
			if n >= 1 && n <= 65535 {
				set[n] = true
			}
		}
	}
	npPorts := func(ports []networkingv1.NetworkPolicyPort) {
		for _, p := range ports {
			if p.Port != nil && p.Port.Type == intstr.Int {
				hi := p.Port.IntVal
				if p.EndPort != nil {
					hi = *p.EndPort
				}
				around(p.Port.IntVal, hi)
			}
		}
	}
	for _, np := range c.Policies {
		for _, r := range np.Spec.Ingress {
			npPorts(r.Ports)
		}
		for _, r := range np.Spec.Egress {
			npPorts(r.Ports)
		}
	}
	cnpPorts := func(protocols []npav1beta1.ClusterNetworkPolicyProtocol) {
		for _, p := range protocols {
			switch port := destinationPort(p); {
			case port == nil:
			case port.Range != nil:
				around(port.Range.Start, port.Range.End)
			default:
				around(port.Number, port.Number)
			}
		}
	}
	for _, cnp := range c.ClusterPolicies {
		for _, r := range cnp.Spec.Ingress {
			cnpPorts(r.Protocols)
		}
		for _, r := range cnp.Spec.Egress {
			cnpPorts(r.Protocols)
		}
	}
	for _, p := range c.Pods {
		for _, cp := range p.Ports {
			set[cp.Port] = true
		}
	}
	out := make([]int32, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// destinationPort reads the port of whichever protocol is set.
func destinationPort(p npav1beta1.ClusterNetworkPolicyProtocol) *npav1beta1.Port {
	switch {
	case p.TCP != nil:
		return p.TCP.DestinationPort
	case p.UDP != nil:
		return p.UDP.DestinationPort
	case p.SCTP != nil:
		return p.SCTP.DestinationPort
	}
	return nil
}
