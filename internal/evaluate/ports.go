package evaluate

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
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

// PortName is a port named in a NetworkPolicy rather than numbered:
// whatever number the destination pod gives that name. Without the pods
// the number is unknown, so a name is some port of its protocol, never
// every port and never a particular one.
type PortName struct {
	// Protocol is TCP, UDP or SCTP.
	Protocol corev1.Protocol
	// Name is the container port's name.
	Name string
}

// String renders the name as TCP/"https", as rules print named ports.
func (n PortName) String() string { return fmt.Sprintf("%s/%q", n.Protocol, n.Name) }

// PortSet is a set of ports over TCP, UDP and SCTP (the protocols a
// NetworkPolicy can name; the API leaves others to the network plugin):
// numbered ports as sorted, non-overlapping, non-adjacent ranges, and named
// ports, so that equal sets compare equal. Build sets with NewPortSet or
// AllPorts, or from the fields when already in order.
type PortSet struct {
	// Ranges are ordered by protocol (TCP, UDP, SCTP), then by From.
	Ranges []PortRange
	// Names are the named ports, ordered by protocol, then by name; none
	// is of a protocol whose every port Ranges holds, as that already
	// holds whatever number the name stands for.
	Names []PortName
}

// AllPorts is every port of every protocol a NetworkPolicy can name.
func AllPorts() PortSet {
	out := PortSet{Ranges: make([]PortRange, 0, len(protocols))}
	for _, p := range protocols {
		out.Ranges = append(out.Ranges, PortRange{Protocol: p, From: minPort, To: maxPort})
	}
	return out
}

// NewPortSet builds a set of the given ranges and names, in any order,
// overlapping or not; an empty protocol is TCP. The arguments are not
// modified.
func NewPortSet(ranges []PortRange, names []PortName) PortSet {
	rs := slices.Clone(ranges)
	for i := range rs {
		rs[i].Protocol = defaultProtocol(rs[i].Protocol)
	}
	slices.SortFunc(rs, func(a, b PortRange) int {
		return cmp.Or(cmp.Compare(protocolRank(a.Protocol), protocolRank(b.Protocol)), cmp.Compare(a.From, b.From))
	})
	var out PortSet
	for _, r := range rs {
		out.add(r)
	}
	for _, n := range names {
		n.Protocol = defaultProtocol(n.Protocol)
		if !out.wholeProtocol(n.Protocol) {
			out.Names = append(out.Names, n)
		}
	}
	slices.SortFunc(out.Names, comparePortNames)
	out.Names = slices.Compact(out.Names)
	return out
}

func defaultProtocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// protocolRank orders protocols as PortSet lists them; others last.
func protocolRank(p corev1.Protocol) int {
	if i := slices.Index(protocols, p); i >= 0 {
		return i
	}
	return len(protocols)
}

func comparePortNames(a, b PortName) int {
	return cmp.Or(cmp.Compare(protocolRank(a.Protocol), protocolRank(b.Protocol)), strings.Compare(a.Name, b.Name))
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

// wholeProtocol reports whether every port of proto is in the set.
func (s PortSet) wholeProtocol(proto corev1.Protocol) bool {
	return slices.Contains(s.Ranges, PortRange{Protocol: proto, From: minPort, To: maxPort})
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
func (s PortSet) Empty() bool { return len(s.Ranges) == 0 && len(s.Names) == 0 }

// Contains reports whether the numbered port p is in the set. A named port
// may stand for p on some pod, but it is not known to, so names do not
// count.
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
	return slices.Equal(s.Ranges, o.Ranges) && slices.Equal(s.Names, o.Names)
}

// Union returns the ports in either set.
func (s PortSet) Union(o PortSet) PortSet {
	return NewPortSet(append(slices.Clone(s.Ranges), o.Ranges...), append(slices.Clone(s.Names), o.Names...))
}

// Intersect returns the ports in both sets. A name is in both when both
// hold it, or when one holds it and the other every port of its protocol.
// A name against a partial range is left out: the ports it shares with the
// range depend on the pods, and no set can say so. The result may so hold
// fewer ports than the true intersection, never more.
func (s PortSet) Intersect(o PortSet) PortSet {
	var ranges []PortRange
	for _, a := range s.Ranges {
		for _, b := range o.Ranges {
			if a.Protocol == b.Protocol && a.From <= b.To && b.From <= a.To {
				ranges = append(ranges, PortRange{Protocol: a.Protocol, From: max(a.From, b.From), To: min(a.To, b.To)})
			}
		}
	}
	var names []PortName
	for _, n := range s.Names {
		if o.holdsName(n) {
			names = append(names, n)
		}
	}
	for _, n := range o.Names {
		if s.wholeProtocol(n.Protocol) {
			names = append(names, n)
		}
	}
	return NewPortSet(ranges, names)
}

// holdsName reports whether the set holds the port named n on every pod:
// it holds the name, or every port of its protocol.
func (s PortSet) holdsName(n PortName) bool {
	_, found := slices.BinarySearchFunc(s.Names, n, comparePortNames)
	return found || s.wholeProtocol(n.Protocol)
}

// Minus returns the ports of s that o does not hold. A name in o removes
// no numbered port (it is some port, not all of them), and a name of s
// stays unless o holds it too or holds every port of its protocol.
func (s PortSet) Minus(o PortSet) PortSet {
	var ranges []PortRange
	for _, a := range s.Ranges {
		rest := []PortRange{a}
		for _, b := range o.Ranges {
			var next []PortRange
			for _, r := range rest {
				if r.Protocol != b.Protocol || b.To < r.From || r.To < b.From {
					next = append(next, r)
					continue
				}
				if r.From < b.From {
					next = append(next, PortRange{Protocol: r.Protocol, From: r.From, To: b.From - 1})
				}
				if b.To < r.To {
					next = append(next, PortRange{Protocol: r.Protocol, From: b.To + 1, To: r.To})
				}
			}
			rest = next
		}
		ranges = append(ranges, rest...)
	}
	var names []PortName
	for _, n := range s.Names {
		if !o.holdsName(n) {
			names = append(names, n)
		}
	}
	return NewPortSet(ranges, names)
}

// Strings lists the ranges, then the names, as TCP/443, TCP/all or
// TCP/"https"; an empty list rather than nil, so that JSON shows [].
func (s PortSet) Strings() []string {
	out := make([]string, 0, len(s.Ranges)+len(s.Names))
	for _, r := range s.Ranges {
		out = append(out, r.String())
	}
	for _, n := range s.Names {
		out = append(out, n.String())
	}
	return out
}

// String renders the set for humans: "all", "none" or a list of ports.
func (s PortSet) String() string {
	switch {
	case s.All():
		return "all"
	case s.Empty():
		return "none"
	}
	return strings.Join(s.Strings(), ", ")
}

// NamespacePortSet is the port-level summary of NamespaceAllowed.
type NamespacePortSet struct {
	// Possible holds the ports on which some pod pair may be allowed: the
	// numbered ports allowed without taking a named port for a number, and
	// the named ports allowed (see NamespacePorts).
	Possible PortSet
	// Certain holds the numbered ports on which every pod pair is allowed;
	// it is a subset of Possible. A named port is never certain: whether a
	// pod has it depends on the pods.
	Certain PortSet
}

// Exact reports whether the summary does not depend on which pods exist.
func (n NamespacePortSet) Exact() bool { return n.Possible.Equal(n.Certain) }

// NamespacePorts lists the ports on which pods of fromNS may reach pods of
// toNS, under the assumptions documented on NamespaceAllowed, except for
// named ports: a rule's named port stands for itself rather than for every
// number, so a numbered port is possible only when rules allow it by
// number, and a name the policies use is possible when rules allow it by
// that name on one side at least, and on the other by that name, by every
// port of its protocol, or by a range it may fall in (a pod pair both sides
// admit by number is traffic to a number, which the numbers report).
// Traffic to a named port is so reported as that name, never as every
// port of its protocol, and "TCP/22 and the name https" stays apart from
// "the name https". (Two different names standing for one number on one
// pod are not considered.)
func (e *Evaluator) NamespacePorts(fromNS, toNS string) NamespacePortSet {
	var out NamespacePortSet
	forEachInterval(e.portCuts(toNS, fromNS), func(r PortRange) {
		v := e.namespaceVerdict(fromNS, toNS, probe{port: Port{Protocol: r.Protocol, Port: r.From}})
		if v.Allowed {
			out.Possible.add(r)
			if v.Exact {
				out.Certain.add(r)
			}
		}
	})
	var names []PortName
	for _, n := range e.portNames(toNS, fromNS) {
		if e.namespaceVerdict(fromNS, toNS, probe{port: Port{Protocol: n.Protocol}, name: n.Name, guess: true, viaName: true}).Allowed {
			names = append(names, n)
		}
	}
	out.Possible = NewPortSet(out.Possible.Ranges, names)
	return out
}

// NamespacePolicies returns the "namespace/name" of the policies, Ingress
// and Egress, that allow some pod of fromNS to reach some pod of toNS on
// some port of ports, sorted: every policy that opens any of them, asked
// as NamespacePorts asks (a named port is not taken for a number, and a
// range is taken for a name only when no rule allows the name itself).
func (e *Evaluator) NamespacePolicies(fromNS, toNS string, ports PortSet) []string {
	found := map[string]bool{}
	record := func(v NamespaceVerdict) {
		for _, p := range append(slices.Clone(v.IngressPolicies), v.EgressPolicies...) {
			found[p] = true
		}
	}
	// Between two cuts every rule matches all ports or none, so one port
	// of each interval's overlap with a range answers for the overlap.
	forEachInterval(e.portCuts(toNS, fromNS), func(r PortRange) {
		for _, want := range ports.Ranges {
			if want.Protocol == r.Protocol && want.From <= r.To && r.From <= want.To {
				record(e.namespaceVerdict(fromNS, toNS, probe{port: Port{Protocol: r.Protocol, Port: max(r.From, want.From)}}))
				return
			}
		}
	})
	// A name is asked first without guessing that it falls in a numbered
	// range, so that the rules naming it are named rather than every rule
	// with a range; only when no rule allows it by name do the ranges
	// that may hold it answer.
	for _, n := range ports.Names {
		pr := probe{port: Port{Protocol: defaultProtocol(n.Protocol)}, name: n.Name, viaName: true}
		v := e.namespaceVerdict(fromNS, toNS, pr)
		if !v.Allowed {
			pr.guess = true
			v = e.namespaceVerdict(fromNS, toNS, pr)
		}
		record(v)
	}
	return sortedKeys(found)
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
	// ClusterNetworkPolicy rules decide by their own ports, whichever pods
	// they select.
	for _, tier := range [][]*clusterPolicy{e.admin, e.baseline} {
		for _, p := range tier {
			for _, r := range slices.Concat(p.ingress, p.egress) {
				for _, c := range r.protocols {
					if c.named == "" {
						cuts[c.proto] = append(cuts[c.proto], c.lo, c.hi+1)
					}
				}
			}
		}
	}
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

// decidingPorts yields the ports of the rules that decide traffic into
// ingressNS and out of egressNS.
func (e *Evaluator) decidingPorts(ingressNS, egressNS string) iter.Seq[portSpec] {
	return func(yield func(portSpec) bool) {
		for _, side := range []struct {
			ns  string
			dir direction
		}{{ingressNS, ingress}, {egressNS, egress}} {
			for _, p := range e.policies[side.ns] {
				if !p.has(side.dir) {
					continue
				}
				for _, r := range p.rules(side.dir) {
					for _, ps := range r.ports {
						if !yield(ps) {
							return
						}
					}
				}
			}
		}
	}
}

// portCuts collects, per protocol, the port numbers where a rule's numeric
// port range starts or ends. Between consecutive cuts every rule matches
// all ports or none, so one probe per interval decides the interval.
func (e *Evaluator) portCuts(ingressNS, egressNS string) map[corev1.Protocol][]int32 {
	cuts := map[corev1.Protocol][]int32{}
	for ps := range e.decidingPorts(ingressNS, egressNS) {
		if !ps.all && ps.name == "" {
			cuts[ps.proto] = append(cuts[ps.proto], ps.lo, ps.hi+1)
		}
	}
	return cuts
}

// portNames collects the named ports of the rules that decide traffic
// into ingressNS and out of egressNS, sorted.
func (e *Evaluator) portNames(ingressNS, egressNS string) []PortName {
	var out []PortName
	for ps := range e.decidingPorts(ingressNS, egressNS) {
		if ps.name != "" {
			out = append(out, PortName{Protocol: ps.proto, Name: ps.name})
		}
	}
	slices.SortFunc(out, comparePortNames)
	return slices.Compact(out)
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
