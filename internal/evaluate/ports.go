package evaluate

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// protocols are the protocols NetworkPolicy ports can name, in the order
// PortSet lists them. The API leaves other protocols to the network
// plugin, so port enumeration does not cover them.
var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

const (
	minPort int32 = 1
	maxPort int32 = 65535
)

// PortRange is an inclusive range of ports of one protocol.
type PortRange struct {
	// Protocol is TCP, UDP or SCTP.
	Protocol corev1.Protocol
	// From and To are inclusive so that a single port is From == To.
	From, To int32
}

// String renders the range as TCP/80, TCP/8000-8080 or TCP/all.
func (r PortRange) String() string {
	switch {
	case r.From == minPort && r.To == maxPort:
		return string(r.Protocol) + "/all"
	case r.From == r.To:
		return fmt.Sprintf("%s/%d", r.Protocol, r.From)
	default:
		return fmt.Sprintf("%s/%d-%d", r.Protocol, r.From, r.To)
	}
}

// PortSet is a set of ports over TCP, UDP and SCTP (the protocols a
// NetworkPolicy can name; the API leaves others to the network plugin), kept as sorted,
// non-overlapping, non-adjacent ranges so that equal sets compare equal.
type PortSet struct {
	// Ranges are ordered by protocol (TCP, UDP, SCTP), then by From.
	Ranges []PortRange
}

// add appends r, which must not start before the last range.
func (s *PortSet) add(r PortRange) {
	if n := len(s.Ranges); n > 0 {
		last := &s.Ranges[n-1]
		if last.Protocol == r.Protocol && last.To+1 >= r.From {
			if r.To > last.To {
				last.To = r.To
			}
			return
		}
	}
	s.Ranges = append(s.Ranges, r)
}

// All reports whether every port of every protocol is in the set.
func (s PortSet) All() bool {
	if len(s.Ranges) != len(protocols) {
		return false
	}
	for i, r := range s.Ranges {
		if r.Protocol != protocols[i] || r.From != minPort || r.To != maxPort {
			return false
		}
	}
	return true
}

// Empty reports whether no port is in the set.
func (s PortSet) Empty() bool { return len(s.Ranges) == 0 }

// Contains reports whether p is in the set.
func (s PortSet) Contains(p Port) bool {
	p = p.normalize()
	for _, r := range s.Ranges {
		if r.Protocol == p.Protocol && r.From <= p.Port && p.Port <= r.To {
			return true
		}
	}
	return false
}

// Equal reports whether both sets hold the same ports.
func (s PortSet) Equal(o PortSet) bool {
	if len(s.Ranges) != len(o.Ranges) {
		return false
	}
	for i := range s.Ranges {
		if s.Ranges[i] != o.Ranges[i] {
			return false
		}
	}
	return true
}

// String renders the set for humans: "all", "none" or a list of ranges.
func (s PortSet) String() string {
	switch {
	case s.All():
		return "all"
	case s.Empty():
		return "none"
	}
	parts := make([]string, len(s.Ranges))
	for i, r := range s.Ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// NamespacePortSet is the port-level summary of NamespaceAllowed.
type NamespacePortSet struct {
	// Possible holds the ports on which some pod pair may be allowed.
	Possible PortSet
	// Certain holds the ports on which every pod pair is allowed; it is a
	// subset of Possible.
	Certain PortSet
}

// Exact reports whether the summary does not depend on which pods exist.
func (n NamespacePortSet) Exact() bool { return n.Possible.Equal(n.Certain) }

// NamespacePorts lists the ports on which pods of fromNS may reach pods of
// toNS, under the assumptions documented on NamespaceAllowed (in
// particular, a named port may be any number of its protocol).
func (e *Evaluator) NamespacePorts(fromNS, toNS string) NamespacePortSet {
	cuts := e.portCuts(toNS, fromNS)
	var out NamespacePortSet
	forEachInterval(cuts, func(r PortRange) {
		v := e.NamespaceAllowed(fromNS, toNS, Port{Protocol: r.Protocol, Port: r.From})
		if v.Allowed {
			out.Possible.add(r)
			if v.Exact {
				out.Certain.add(r)
			}
		}
	})
	return out
}

// AllowedPorts lists the ports on which from may reach to.
func (e *Evaluator) AllowedPorts(from, to Endpoint) PortSet {
	var toNS, fromNS string
	if to.pod != nil {
		toNS = to.pod.Namespace
	}
	if from.pod != nil {
		fromNS = from.pod.Namespace
	}
	cuts := e.portCuts(toNS, fromNS)
	if to.pod != nil {
		// Named ports resolve to these numbers only, so they are the
		// only other places where the answer can change.
		for _, np := range to.pod.NamedPorts {
			p := Port{Protocol: np.Protocol, Port: np.Port}.normalize()
			cuts[p.Protocol] = append(cuts[p.Protocol], p.Port, p.Port+1)
		}
	}
	var out PortSet
	forEachInterval(cuts, func(r PortRange) {
		if e.Allowed(from, to, Port{Protocol: r.Protocol, Port: r.From}).Allowed {
			out.add(r)
		}
	})
	return out
}

// portCuts collects, per protocol, the port numbers where a rule's numeric
// port range starts or ends. Between consecutive cuts every rule matches
// all ports or none, so one probe per interval decides the interval.
func (e *Evaluator) portCuts(ingressNS, egressNS string) map[corev1.Protocol][]int32 {
	cuts := map[corev1.Protocol][]int32{}
	collect := func(ns string, dir direction) {
		for _, p := range e.policies[ns] {
			if !p.has(dir) {
				continue
			}
			for _, r := range p.rules(dir) {
				for _, ps := range r.ports {
					if ps.all || ps.name != "" {
						continue
					}
					cuts[ps.proto] = append(cuts[ps.proto], ps.lo, ps.hi+1)
				}
			}
		}
	}
	collect(ingressNS, ingress)
	collect(egressNS, egress)
	return cuts
}

// forEachInterval calls fn for each maximal interval of 1-65535, per
// protocol, delimited by cuts, in PortSet order.
func forEachInterval(cuts map[corev1.Protocol][]int32, fn func(PortRange)) {
	for _, proto := range protocols {
		points := []int32{minPort, maxPort + 1}
		for _, c := range cuts[proto] {
			if c > minPort && c <= maxPort {
				points = append(points, c)
			}
		}
		sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
		for i := 0; i+1 < len(points); i++ {
			if points[i] == points[i+1] {
				continue
			}
			fn(PortRange{Protocol: proto, From: points[i], To: points[i+1] - 1})
		}
	}
}
