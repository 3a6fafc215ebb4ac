package dataplane

import "slices"

// Model is the connectivity a profile intends, stated independently of
// Tierguard's rendering so that a measured matrix can be checked against the
// declared rule and not against Tierguard's own output:
//
// Traffic from namespace A to a governed namespace B of tier b is allowed by
// B's ingress when A = B, or A is in tier b and b's isolation is Tier, or A
// is shared, or a flow from A's tier to b covers the port. When A is governed
// and egress isolation is on, A's egress must allow it too: A = B, or B is in
// A's tier with Tier isolation, or B is shared, or a flow from A's tier to
// B's covers the port, or B holds the cluster DNS and the port is 53.
// Ungoverned destinations accept everything, subject to the source's egress.
type Model struct {
	// Tiers maps every governed namespace to its tier.
	Tiers map[string]string
	// NamespaceIsolated holds the tiers whose isolation is Namespace.
	NamespaceIsolated map[string]bool
	// Shared holds the shared namespaces.
	Shared map[string]bool
	// Flows are the allowed cross-tier flows.
	Flows []Flow
	// EgressIsolated is egress isolation Tier.
	EgressIsolated bool
	// DNS holds the namespaces whose pods are the cluster DNS that egress
	// isolation allows on port 53 (kube-system, allowDNS true).
	DNS map[string]bool
}

// Flow allows traffic from one tier to another on Ports (all when empty).
type Flow struct {
	From, To string
	Ports    []Port
}

// covers reports whether the flow from tier a to tier b covers port p.
func (f Flow) covers(a, b string, p Port) bool {
	return f.From == a && f.To == b && (len(f.Ports) == 0 || slices.Contains(f.Ports, p))
}

// Allows reports whether the model intends a cell to be open.
func (m Model) Allows(c Cell) bool { return m.ingressAllows(c) && m.egressAllows(c) }

// Matrix returns the intended matrix.
func (m Model) Matrix(namespaces []string, ports []Port) Matrix {
	return NewMatrix(namespaces, ports, m.Allows)
}

func (m Model) ingressAllows(c Cell) bool {
	b, governed := m.Tiers[c.To]
	if !governed || c.From == c.To || m.Shared[c.From] {
		return true
	}
	a, fromGoverned := m.Tiers[c.From]
	return fromGoverned && (a == b && !m.NamespaceIsolated[b] || m.flowCovers(a, b, c.Port))
}

func (m Model) egressAllows(c Cell) bool {
	a, governed := m.Tiers[c.From]
	if !governed || !m.EgressIsolated || c.From == c.To || m.Shared[c.To] {
		return true
	}
	if m.DNS[c.To] && c.Port.Number == 53 && (c.Port.Protocol == "UDP" || c.Port.Protocol == "TCP") {
		return true
	}
	b, toGoverned := m.Tiers[c.To]
	return toGoverned && (a == b && !m.NamespaceIsolated[a] || m.flowCovers(a, b, c.Port))
}

func (m Model) flowCovers(a, b string, p Port) bool {
	for _, f := range m.Flows {
		if f.covers(a, b, p) {
			return true
		}
	}
	return false
}
