package intent

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
)

// Ports is a set of Ports as normalized ranges: ordered by protocol (TCP,
// UDP, SCTP, as evaluate.PortSet orders them) and start, never overlapping
// or adjacent, so that equal sets have equal ranges. "All Ports" is the
// three full ranges rather than a flag, so that set operations and
// evaluate.PortSet's All and String apply unchanged.
type Ports []evaluate.PortRange

// protocolOrder is evaluate.PortSet's protocol order.
var protocolOrder = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

// AllPorts is every port of every protocol a NetworkPolicy can name.
func AllPorts() Ports {
	out := make(Ports, 0, len(protocolOrder))
	for _, p := range protocolOrder {
		out = append(out, evaluate.PortRange{Protocol: p, From: 1, To: 65535})
	}
	return out
}

// NewPorts normalizes rs, which it may reorder.
func NewPorts(rs []evaluate.PortRange) Ports {
	slices.SortFunc(rs, func(a, b evaluate.PortRange) int {
		if a.Protocol != b.Protocol {
			return slices.Index(protocolOrder, a.Protocol) - slices.Index(protocolOrder, b.Protocol)
		}
		return int(a.From - b.From)
	})
	var out Ports
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Protocol == r.Protocol && out[n-1].To+1 >= r.From {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Set is the ports as an evaluate.PortSet.
func (p Ports) Set() evaluate.PortSet { return evaluate.PortSet{Ranges: p} }

// All reports whether every port of every protocol is in the set.
func (p Ports) All() bool { return p.Set().All() }

// Empty reports whether no port is in the set.
func (p Ports) Empty() bool { return len(p) == 0 }

// Equal reports whether two sets hold the same ports.
func (p Ports) Equal(o Ports) bool { return slices.Equal(p, o) }

// Union returns the ports in either set.
func (p Ports) Union(o Ports) Ports {
	return NewPorts(append(slices.Clone(p), o...))
}

// Intersect returns the ports in both sets.
func (p Ports) Intersect(o Ports) Ports {
	var out []evaluate.PortRange
	for _, a := range p {
		for _, b := range o {
			if a.Protocol == b.Protocol && a.From <= b.To && b.From <= a.To {
				out = append(out, evaluate.PortRange{Protocol: a.Protocol, From: max(a.From, b.From), To: min(a.To, b.To)})
			}
		}
	}
	return NewPorts(out)
}

// Minus returns the Ports of p that o does not hold.
func (p Ports) Minus(o Ports) Ports {
	var out []evaluate.PortRange
	for _, a := range p {
		rest := []evaluate.PortRange{a}
		for _, b := range o {
			var next []evaluate.PortRange
			for _, r := range rest {
				if r.Protocol != b.Protocol || b.To < r.From || r.To < b.From {
					next = append(next, r)
					continue
				}
				if r.From < b.From {
					next = append(next, evaluate.PortRange{Protocol: r.Protocol, From: r.From, To: b.From - 1})
				}
				if b.To < r.To {
					next = append(next, evaluate.PortRange{Protocol: r.Protocol, From: b.To + 1, To: r.To})
				}
			}
			rest = next
		}
		out = append(out, rest...)
	}
	return NewPorts(out)
}

// Strings lists the ranges as evaluate prints them (TCP/443, TCP/all), an
// empty list rather than nil so that JSON shows [].
func (p Ports) Strings() []string {
	out := make([]string, 0, len(p))
	for _, r := range p {
		out = append(out, r.String())
	}
	return out
}

// FlowPorts converts a flow's Ports. A named port cannot be resolved
// without the pods, so it counts as every port of its protocol, which is
// also what the evaluator assumes at namespace level: the two sides agree
// rather than report a difference no one can act on.
func FlowPorts(in []segv1.NetworkPolicyPort) Ports {
	if len(in) == 0 {
		return AllPorts()
	}
	var out []evaluate.PortRange
	for _, p := range in {
		proto := corev1.Protocol(p.Protocol)
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		r := evaluate.PortRange{Protocol: proto, From: 1, To: 65535}
		if p.Port != nil && p.Port.Type == intstr.Int {
			r.From, r.To = p.Port.IntVal, p.Port.IntVal
			if p.EndPort != nil {
				r.To = *p.EndPort
			}
		}
		out = append(out, r)
	}
	return NewPorts(out)
}
