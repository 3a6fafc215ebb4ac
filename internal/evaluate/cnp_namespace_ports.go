package evaluate

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Ports is NamespacePorts for the pair, with the ports of the
// ClusterNetworkPolicy rules that may decide it among the cuts (an Admin
// rule accepting TCP/22 alone makes TCP/22 differ from its neighbours).
func (np *NamespacePair) Ports() NamespacePortSet {
	var out NamespacePortSet
	forEachInterval(np.cuts(), func(r PortRange) {
		v := np.verdict(probe{port: Port{Protocol: r.Protocol, Port: r.From}})
		if v.Allowed {
			out.Possible.add(r)
			if v.Exact {
				out.Certain.add(r)
			}
		}
	})
	var names []PortName
	for _, n := range np.names() {
		if np.verdict(probe{port: Port{Protocol: n.Protocol}, name: n.Name, guess: true, viaName: true}).Allowed {
			names = append(names, n)
		}
	}
	out.Possible = NewPortSet(out.Possible.Ranges, names)
	return out
}

// Policies is NamespacePolicies for the pair, with the same cuts as Ports:
// the keys of the policies, NetworkPolicies ("namespace/name") and
// ClusterNetworkPolicies ("ClusterNetworkPolicy/name"), on the way of some
// pod pair on some port of ports, sorted.
func (np *NamespacePair) Policies(ports PortSet) []string {
	found := map[string]bool{}
	record := func(v NamespaceVerdict) {
		for _, p := range append(slices.Clone(v.IngressPolicies), v.EgressPolicies...) {
			found[p] = true
		}
	}
	// Every port of an interval has the same answer: ask its first, as
	// Ports did.
	forEachInterval(np.cuts(), func(r PortRange) {
		for _, want := range ports.Ranges {
			if want.Protocol == r.Protocol && want.From <= r.To && r.From <= want.To {
				record(np.verdict(probe{port: Port{Protocol: r.Protocol, Port: r.From}}))
				return
			}
		}
	})
	for _, n := range ports.Names {
		pr := probe{port: Port{Protocol: defaultProtocol(n.Protocol)}, name: n.Name, viaName: true}
		v := np.verdict(pr)
		if !v.Allowed {
			pr.guess = true
			v = np.verdict(pr)
		}
		record(v)
	}
	return sortedKeys(found)
}

// cuts is portCuts plus the ports where the numbered ranges of the pair's
// ClusterNetworkPolicy rules start or end.
func (np *NamespacePair) cuts() map[corev1.Protocol][]int32 {
	cuts := np.e.portCuts(np.to, np.from)
	for c := range np.clusterProtocols {
		if c.named == "" {
			cuts[c.proto] = append(cuts[c.proto], c.lo, c.hi+1)
		}
	}
	return cuts
}

// names is portNames plus the named ports of the pair's
// ClusterNetworkPolicy rules, each of every protocol: a
// destinationNamedPort names a container port whatever its protocol.
func (np *NamespacePair) names() []PortName {
	out := np.e.portNames(np.to, np.from)
	for c := range np.clusterProtocols {
		if c.named != "" {
			for _, proto := range protocols {
				out = append(out, PortName{Protocol: proto, Name: c.named})
			}
		}
	}
	slices.SortFunc(out, comparePortNames)
	return slices.Compact(out)
}

// clusterProtocols yields the protocols of the rules of the
// ClusterNetworkPolicies that may decide the pair.
func (np *NamespacePair) clusterProtocols(yield func(cnpProtocol) bool) {
	for _, side := range []struct {
		dir      direction
		policies [][]*clusterPolicy
	}{{ingress, [][]*clusterPolicy{np.ingAdmin, np.ingBaseline}}, {egress, [][]*clusterPolicy{np.egAdmin, np.egBaseline}}} {
		for _, tier := range side.policies {
			for _, p := range tier {
				for _, r := range cnpRules(p, side.dir) {
					for _, c := range r.protocols {
						if !yield(c) {
							return
						}
					}
				}
			}
		}
	}
}
