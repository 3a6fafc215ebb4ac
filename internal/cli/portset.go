package cli

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
)

// ports is a set of ports as normalized ranges: ordered by protocol (TCP,
// UDP, SCTP, as evaluate.PortSet orders them) and start, never overlapping
// or adjacent, so that equal sets have equal ranges. "All ports" is the
// three full ranges rather than a flag, so that set operations and
// evaluate.PortSet's All and String apply unchanged.
//
// The operations restate those of internal/leaks (unexported there, and
// that package is not the plugin's to change) on this representation.
type ports []evaluate.PortRange

// protocolOrder is evaluate.PortSet's protocol order.
var protocolOrder = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

// allPorts is every port of every protocol a NetworkPolicy can name.
func allPorts() ports {
	out := make(ports, 0, len(protocolOrder))
	for _, p := range protocolOrder {
		out = append(out, evaluate.PortRange{Protocol: p, From: 1, To: 65535})
	}
	return out
}

// newPorts normalizes rs, which it may reorder.
func newPorts(rs []evaluate.PortRange) ports {
	slices.SortFunc(rs, func(a, b evaluate.PortRange) int {
		if a.Protocol != b.Protocol {
			return slices.Index(protocolOrder, a.Protocol) - slices.Index(protocolOrder, b.Protocol)
		}
		return int(a.From - b.From)
	})
	var out ports
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Protocol == r.Protocol && out[n-1].To+1 >= r.From {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

func (p ports) set() evaluate.PortSet { return evaluate.PortSet{Ranges: p} }
func (p ports) all() bool             { return p.set().All() }
func (p ports) empty() bool           { return len(p) == 0 }
func (p ports) equal(o ports) bool    { return slices.Equal(p, o) }

func (p ports) union(o ports) ports {
	return newPorts(append(slices.Clone(p), o...))
}

func (p ports) intersect(o ports) ports {
	var out []evaluate.PortRange
	for _, a := range p {
		for _, b := range o {
			if a.Protocol == b.Protocol && a.From <= b.To && b.From <= a.To {
				out = append(out, evaluate.PortRange{Protocol: a.Protocol, From: max(a.From, b.From), To: min(a.To, b.To)})
			}
		}
	}
	return newPorts(out)
}

// minus returns the ports of p that o does not hold.
func (p ports) minus(o ports) ports {
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
	return newPorts(out)
}

// strings lists the ranges as evaluate prints them (TCP/443, TCP/all), an
// empty list rather than nil so that JSON shows [].
func (p ports) strings() []string {
	out := make([]string, 0, len(p))
	for _, r := range p {
		out = append(out, r.String())
	}
	return out
}

// cell is the set as a matrix cell shows it: allow, deny, or the ranges.
func (p ports) cell() string {
	switch {
	case p.all():
		return "allow"
	case p.empty():
		return "deny"
	}
	return strings.Join(p.strings(), ",")
}

// phrase is the set in a sentence: "all ports", "no port", or the ranges.
func (p ports) phrase() string {
	switch {
	case p.all():
		return "all ports"
	case p.empty():
		return "no port"
	}
	return strings.Join(p.strings(), ", ")
}

// flowPorts converts a flow's ports. A named port cannot be resolved
// without the pods, so it counts as every port of its protocol, which is
// also what the evaluator assumes at namespace level: the two sides agree
// rather than report a difference no one can act on.
func flowPorts(in []segv1.NetworkPolicyPort) ports {
	if len(in) == 0 {
		return allPorts()
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
	return newPorts(out)
}
