package evaluate

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// NamespaceVerdict answers whether any pod of one namespace may reach any
// pod of another when the pods themselves are unknown.
type NamespaceVerdict struct {
	// Allowed reports that some pair of pods (a in the source namespace, b
	// in the destination namespace) may be allowed under the assumptions of
	// NamespaceAllowed. False is definitive: no pods, whatever their labels,
	// named ports or IPs, can make the connection.
	Allowed bool
	// Exact is true when the answer does not depend on which pods exist:
	// either Allowed is false, or every pod pair is allowed whatever its
	// labels, without relying on a named port or an ipBlock. When false,
	// Allowed is an over-approximation that holds only if pods matching
	// Conditions exist.
	Exact bool
	// IngressPolicies are the "namespace/name" of the NetworkPolicies
	// whose Ingress rules allow some possible pod pair, and the
	// "ClusterNetworkPolicy/name" (ClusterPolicyKey) of the
	// ClusterNetworkPolicies on the way of some allowed pair's ingress: one
	// whose rule accepts it, passes it on to the NetworkPolicies, or (in the
	// Baseline tier) accepts or passes it when no NetworkPolicy selects the
	// destination; sorted.
	IngressPolicies []string
	// EgressPolicies are the same for Egress rules.
	EgressPolicies []string
	// UnisolatedDestination is set when some allowed pair's destination
	// is a pod that no Ingress policy selects, and no ClusterNetworkPolicy
	// decides the pair before the NetworkPolicies. A namespace whose
	// policies all have non-empty podSelectors can hold such pods.
	UnisolatedDestination bool
	// UnisolatedSource is the same for the source and Egress policies.
	UnisolatedSource bool
	// IngressRefusers are the keys ("ClusterNetworkPolicy/name") of the
	// ClusterNetworkPolicies whose Deny rule decides some possible pod
	// pair's ingress, sorted; EgressRefusers the same for egress. A
	// refusal by NetworkPolicies is isolation without an admitting rule.
	IngressRefusers []string
	EgressRefusers  []string
	// Conditions lists, one per way the traffic can be allowed, what must
	// hold about the pods for that way to apply; the conditions inside an
	// entry all apply together. Empty when Exact.
	Conditions []string
	// Assumption states in words what the answer assumes about the pods.
	Assumption string
	// Reason is a one-line human explanation.
	Reason string
}

// NamespaceAllowed answers, without knowing the pods, whether some pod of
// fromNS may open a connection to port on some pod of toNS.
//
// Model: each namespace may contain pods with any set of labels, any named
// container ports and (for ipBlock peers) any IP inside Cluster.PodCIDRs,
// or any IP at all when PodCIDRs is empty. Namespace labels are known from
// the Cluster. Within that model the label reasoning is exact:
//
//   - A policy with a non-empty podSelector selects only some pods, so the
//     other pods are not isolated unless another policy selects them. Whether
//     the selectors together cover every possible label set is decided, not
//     guessed: "app Exists" and "app DoesNotExist" cover everything.
//   - A peer with a podSelector allows only pods with matching labels; such
//     a pod is assumed to be possible, and the same source (destination) pod
//     must also satisfy its own egress (ingress) side, so contradictory
//     requirements on one pod rule a pair out.
//
// ClusterNetworkPolicies are applied in their order (see cnp.go and
// cnp_namespace.go): the first Admin rule that matches a pod pair decides
// it or passes it to the NetworkPolicies, which decide when one selects the
// pod, then the Baseline tier, then the default, allow. A subject or peer
// pod selector is a label constraint like a podSelector, and "no earlier
// rule matched" is its negation, so the label reasoning stays exact.
// Policies of equal priority are not ordered among themselves: the API
// leaves their order to the implementation, so each may decide first.
//
// Two things are not label questions and are over-approximated:
//
//   - A named port is assumed to resolve, on some destination pod, to the
//     queried port number with the rule's protocol.
//   - An ipBlock peer, or a ClusterNetworkPolicy networks peer, is assumed
//     to contain some pod's IP, unless PodCIDRs shows that the block, minus
//     its exceptions, holds no pod address. A networks peer that holds
//     every pod address (every PodCIDR, or 0.0.0.0/0 and ::/0) matches
//     every pod exactly.
//
// Such a rule may match or not, whichever allows more: it neither
// makes the answer exact nor rules out what follows it.
//
// So Allowed=false is always sound, and Allowed=true is exact only when
// Exact is set; otherwise Conditions say which pods would have to exist.
func (e *Evaluator) NamespaceAllowed(fromNS, toNS string, port Port) NamespaceVerdict {
	return e.namespaceVerdict(fromNS, toNS, probe{port: port.normalize(), guess: true})
}

// NamespaceAllowedName is NamespaceAllowed for the destination pod's port
// of a given name, whatever its number: a rule naming the same port, or
// admitting every port of its protocol, admits it; a rule's numbered range
// is assumed to hold the number (with a condition saying so); a rule
// naming another port is not, as two names rarely share a number.
func (e *Evaluator) NamespaceAllowedName(fromNS, toNS string, name PortName) NamespaceVerdict {
	name.Protocol = defaultProtocol(name.Protocol)
	return e.namespaceVerdict(fromNS, toNS, probe{port: Port{Protocol: name.Protocol}, name: name.Name, guess: true})
}

// probe is the destination port a namespace-level question asks about.
type probe struct {
	// port is the number asked about, or only the protocol when name is set.
	port Port
	// name is set to ask about the destination's port of that name.
	name string
	// guess lets a rule's named port match a number, assuming the name
	// resolves to it on some pod, and a rule's numbered range match a name,
	// assuming the name resolves into it. NamespaceAllowed guesses;
	// NamespacePorts asks about numbers without guessing and about the
	// names instead.
	guess bool
	// viaName, for a name, counts only the pod pairs that some side admits
	// by that very name: a pair both sides admit by number (every port, a
	// range) is traffic to a number, which the numbered probes report.
	viaName bool
}

func (pr probe) String() string {
	if pr.name != "" {
		return PortName{Protocol: pr.port.Protocol, Name: pr.name}.String()
	}
	return pr.port.String()
}

func (e *Evaluator) namespaceVerdict(fromNS, toNS string, port probe) NamespaceVerdict {
	np := e.pair(fromNS, toNS)
	return np.decide(port)
}

// NamespacePair answers the namespace-level questions about one ordered
// pair of namespaces, under the assumptions of NamespaceAllowed. It finds
// once what every question about the pair shares: the
// ClusterNetworkPolicies whose subject namespaces hold either end, and the
// answer to each question asked. Its Ports and Policies also cut the ports
// where a ClusterNetworkPolicy rule's range starts or ends, which
// NamespacePorts and NamespacePolicies do not: with ClusterNetworkPolicies,
// ask the pair. A pair is not safe for concurrent use; the Evaluator is.
type NamespacePair struct {
	e        *Evaluator
	from, to string
	answers  map[probe]NamespaceVerdict
	// ingAdmin and ingBaseline are the policies of each tier whose subject
	// namespaces hold to, in evaluation order; egAdmin and egBaseline
	// those whose subject namespaces hold from.
	ingAdmin, ingBaseline, egAdmin, egBaseline []*clusterPolicy
}

// NamespacePair prepares the questions about pods of fromNS reaching pods
// of toNS.
func (e *Evaluator) NamespacePair(fromNS, toNS string) *NamespacePair {
	np := e.pair(fromNS, toNS)
	return &np
}

func (e *Evaluator) pair(fromNS, toNS string) NamespacePair {
	np := NamespacePair{e: e, from: fromNS, to: toNS}
	if len(e.admin) == 0 && len(e.baseline) == 0 {
		return np
	}
	fromLabels, toLabels := e.namespaceLabels(fromNS), e.namespaceLabels(toNS)
	for _, t := range []struct {
		policies []*clusterPolicy
		ing, eg  *[]*clusterPolicy
	}{{e.admin, &np.ingAdmin, &np.egAdmin}, {e.baseline, &np.ingBaseline, &np.egBaseline}} {
		for _, p := range t.policies {
			if len(p.ingress) > 0 && p.subjectNS.sel.Matches(toLabels) {
				*t.ing = append(*t.ing, p)
			}
			if len(p.egress) > 0 && p.subjectNS.sel.Matches(fromLabels) {
				*t.eg = append(*t.eg, p)
			}
		}
	}
	return np
}

// Allowed is NamespaceAllowed for the pair.
func (np *NamespacePair) Allowed(port Port) NamespaceVerdict {
	return np.verdict(probe{port: port.normalize(), guess: true})
}

// AllowedName is NamespaceAllowedName for the pair.
func (np *NamespacePair) AllowedName(name PortName) NamespaceVerdict {
	name.Protocol = defaultProtocol(name.Protocol)
	return np.verdict(probe{port: Port{Protocol: name.Protocol}, name: name.Name, guess: true})
}

// clustered reports whether some ClusterNetworkPolicy has the pair's
// destination (ingress) or source (egress) as its subject.
func (np *NamespacePair) clustered(dir direction) bool {
	if dir == ingress {
		return len(np.ingAdmin)+len(np.ingBaseline) > 0
	}
	return len(np.egAdmin)+len(np.egBaseline) > 0
}

func (np *NamespacePair) verdict(port probe) NamespaceVerdict {
	if v, ok := np.answers[port]; ok {
		return v
	}
	v := np.decide(port)
	if np.answers == nil {
		np.answers = map[probe]NamespaceVerdict{}
	}
	np.answers[port] = v
	return v
}

func (np *NamespacePair) decide(port probe) NamespaceVerdict {
	fromNS, toNS := np.from, np.to
	ing := np.side(ingress, port)
	eg := np.side(egress, port)
	s := newSolver()

	var v NamespaceVerdict
	ingPolicies := map[string]bool{}
	egPolicies := map[string]bool{}
	conditions := map[string]bool{}
	ingPossible, egPossible := false, false
	for _, j := range eg.alts {
		if s.satisfiable(j.clauses()) {
			egPossible = true
			break
		}
	}
	for _, i := range ing.alts {
		if !s.satisfiable(i.clauses()) {
			continue
		}
		ingPossible = true
		for _, j := range eg.alts {
			if port.viaName && !i.byName && !j.byName {
				continue
			}
			if !s.satisfiable(append(i.clauses(), j.clauses()...)) {
				continue
			}
			v.Allowed = true
			i.record(ingPolicies, &v.UnisolatedDestination)
			j.record(egPolicies, &v.UnisolatedSource)
			if needs := append(append([]string(nil), i.needs...), j.needs...); len(needs) > 0 {
				conditions[strings.Join(needs, " and ")] = true
			}
		}
	}
	v.IngressPolicies = sortedKeys(ingPolicies)
	v.EgressPolicies = sortedKeys(egPolicies)
	v.IngressRefusers = ing.refusers(s)
	v.EgressRefusers = eg.refusers(s)
	v.Exact = !v.Allowed || (ing.universal(s) && eg.universal(s))

	flow := fmt.Sprintf("pods of %s to pods of %s on %s", fromNS, toNS, port)
	switch {
	case !v.Allowed:
		v.Assumption = "none: no pods, whatever their labels, named ports or IPs, can make this connection"
		switch {
		case !ingPossible && np.clustered(ingress):
			v.Reason = fmt.Sprintf("denied: the ClusterNetworkPolicies and NetworkPolicies of %s admit no Ingress of %s", toNS, flow)
		case !ingPossible:
			v.Reason = fmt.Sprintf("denied: every pod of %s is ingress-isolated and no Ingress rule admits %s", toNS, flow)
		case !egPossible && np.clustered(egress):
			v.Reason = fmt.Sprintf("denied: the ClusterNetworkPolicies and NetworkPolicies of %s admit no Egress of %s", fromNS, flow)
		case !egPossible:
			v.Reason = fmt.Sprintf("denied: every pod of %s is egress-isolated and no Egress rule admits %s", fromNS, flow)
		default:
			v.Reason = fmt.Sprintf("denied: ingress and egress each admit some %s, but no single pod pair satisfies both", flow)
		}
	case v.Exact:
		v.Assumption = "none: every pod pair is allowed, whatever the pods' labels"
		v.Reason = "allowed for every pair of " + flow + "; " + v.sides()
	default:
		v.Conditions = sortedKeys(conditions)
		v.Assumption = "over-approximation: allowed only if pods exist with: " + strings.Join(v.Conditions, "; or ")
		if s.exhausted {
			v.Assumption += "; the label analysis hit its search budget and assumed a match"
		}
		v.Reason = "allowed for some pairs of " + flow + "; " + v.sides()
	}
	return v
}

func (v NamespaceVerdict) sides() string {
	var parts []string
	if len(v.IngressPolicies) > 0 {
		parts = append(parts, "ingress by "+strings.Join(v.IngressPolicies, ", "))
	}
	if v.UnisolatedDestination {
		parts = append(parts, "destination pods not ingress-isolated")
	}
	if len(v.EgressPolicies) > 0 {
		parts = append(parts, "egress by "+strings.Join(v.EgressPolicies, ", "))
	}
	if v.UnisolatedSource {
		parts = append(parts, "source pods not egress-isolated")
	}
	return strings.Join(parts, "; ")
}

// nsAlt is one way a direction can admit a connection: a conjunction of
// label constraints on the source and destination pods.
type nsAlt struct {
	// policy is the NetworkPolicy whose rule admits the connection; empty
	// when none does (no NetworkPolicy selects the pod, or a
	// ClusterNetworkPolicy decides first).
	policy string
	// cluster are the keys of the ClusterNetworkPolicies on the way.
	cluster []string
	// unisolated is set when the way goes through "no NetworkPolicy of
	// this direction selects the pod".
	unisolated bool
	pos        term
	// neg holds the "not matched by" clauses: not selected by a policy,
	// not matched by an earlier ClusterNetworkPolicy rule.
	neg []clause
	// needs describes the constraints for Conditions.
	needs []string
	// approx is set when the alternative relies on a named port or an
	// ipBlock guess rather than on labels.
	approx bool
	// byName is set when the rule admits a named probe by its name.
	byName bool
}

func (a nsAlt) clauses() []clause {
	return append([]clause{{a.pos}}, a.neg...)
}

// record adds the policies of the way to policies and notes an
// unisolated pod.
func (a nsAlt) record(policies map[string]bool, unisolated *bool) {
	if a.policy != "" {
		policies[a.policy] = true
	}
	for _, c := range a.cluster {
		policies[c] = true
	}
	if a.unisolated {
		*unisolated = true
	}
}

// nsSide is every way one direction can admit a connection, and every way
// it can refuse one.
type nsSide struct {
	alts []nsAlt
	// denials are the ways the direction may refuse some pair, each a
	// conjunction of clauses: with ways that rely on a guess (a named
	// port, an address) counted as both matching and not.
	denials [][]clause
	// refusals are the denials by a ClusterNetworkPolicy's Deny rule.
	refusals []refusal
}

// refusal is a way a ClusterNetworkPolicy's Deny rule refuses a pair.
type refusal struct {
	policy  string
	clauses []clause
}

// refusers returns the ClusterNetworkPolicies whose Deny rule may decide
// some pair, sorted.
func (sd nsSide) refusers(s *solver) []string {
	if len(sd.refusals) == 0 {
		return nil
	}
	found := map[string]bool{}
	for _, r := range sd.refusals {
		if !found[r.policy] && s.satisfiable(r.clauses) {
			found[r.policy] = true
		}
	}
	return sortedKeys(found)
}

// universal reports whether the direction admits the connection for every
// pair of label sets: no pair can be refused.
func (sd nsSide) universal(s *solver) bool {
	for _, d := range sd.denials {
		if s.satisfiable(d) {
			return false
		}
	}
	return true
}

// npLayer is what the NetworkPolicies of one namespace do in one
// direction, when no ClusterNetworkPolicy decides first.
type npLayer struct {
	// open is "no policy of this direction selects the pod".
	open nsAlt
	// rules are the ways a selecting policy's rule admits the connection.
	rules []nsAlt
	// selected is "some policy of this direction selects the pod".
	selected clause
}

// refusal is "some policy selects the pod and no rule admits it", with
// rules that rely on a guess counted as not admitting; nil when no
// policy of the direction can select a pod.
func (l npLayer) refusal() []clause {
	if len(l.selected) == 0 {
		return nil
	}
	cl := []clause{l.selected}
	for _, a := range l.rules {
		if !a.approx {
			cl = append(cl, negateTerm(a.pos))
		}
	}
	return cl
}

// nsAlternatives lists the ways direction dir, governed by the
// NetworkPolicies of selfNS, can admit a connection whose other end is in
// peerNS.
func (e *Evaluator) nsAlternatives(dir direction, selfNS, peerNS string, port probe) npLayer {
	selfSide, peerSide := dstSide, srcSide
	selfRole, peerRole := "destination", "source"
	if dir == egress {
		selfSide, peerSide = srcSide, dstSide
		selfRole, peerRole = peerRole, selfRole
	}
	var l npLayer
	l.open.unisolated = true
	var selectors []string
	for _, p := range e.policies[selfNS] {
		if !p.has(dir) {
			continue
		}
		l.open.neg = append(l.open.neg, p.pods.notOnSide(selfSide))
		l.selected = append(l.selected, p.pods.onSide(selfSide))
		selectors = append(selectors, p.key+" selects "+p.pods.text)
	}
	if len(selectors) > 0 {
		l.open.needs = []string{fmt.Sprintf("a %s pod in %s that no %s policy selects (%s)",
			selfRole, selfNS, dir, strings.Join(selectors, ", "))}
	}

	for _, p := range e.policies[selfNS] {
		if !p.has(dir) {
			continue
		}
		for _, r := range p.rules(dir) {
			ok, portNeed, byName := r.portMayMatch(port)
			if !ok {
				continue
			}
			base := nsAlt{policy: p.key, pos: p.pods.onSide(selfSide), byName: byName}
			if !p.pods.matchesAll() {
				base.needs = append(base.needs, fmt.Sprintf("a %s pod in %s matching %s (selected by %s)",
					selfRole, selfNS, p.pods.text, p.key))
			}
			if portNeed != "" {
				base.needs = append(base.needs, portNeed+" on the destination pod")
				base.approx = true
			}
			if len(r.peers) == 0 {
				l.rules = append(l.rules, base)
				continue
			}
			for _, pr := range r.peers {
				if a, ok := e.peerMayMatch(base, p, pr, peerNS, peerSide, peerRole); ok {
					l.rules = append(l.rules, a)
				}
			}
		}
	}
	return l
}

// peerMayMatch extends base with what a pod of peerNS needs to match pr.
func (e *Evaluator) peerMayMatch(base nsAlt, p *policy, pr peer, peerNS string, peerSide side, peerRole string) (nsAlt, bool) {
	a := base
	a.pos = append(term(nil), base.pos...)
	a.needs = append([]string(nil), base.needs...)
	if pr.block != nil {
		if !e.blockMayHoldPod(pr.block) {
			return a, false
		}
		a.approx = true
		a.needs = append(a.needs, fmt.Sprintf("a %s pod IP inside ipBlock %s (%s)", peerRole, pr.block.text, p.key))
		return a, true
	}
	if pr.namespaces == nil {
		if peerNS != p.ns {
			return a, false
		}
	} else if !pr.namespaces.sel.Matches(e.namespaceLabels(peerNS)) {
		return a, false
	}
	if pr.pods != nil && !pr.pods.matchesAll() {
		a.pos = append(a.pos, pr.pods.onSide(peerSide)...)
		a.needs = append(a.needs, fmt.Sprintf("a %s pod in %s matching %s (peer of %s)",
			peerRole, peerNS, pr.pods.text, p.key))
	}
	return a, true
}

// portMayMatch is matchesPort for an unknown destination pod. A named
// port may resolve to any number, and a name to any number in a range, so
// such matches come with need describing the guess. A match by the probe's
// own name is preferred (byName), then a match that needs no guess.
func (r rule) portMayMatch(pr probe) (ok bool, need string, byName bool) {
	if len(r.ports) == 0 {
		return true, "", false
	}
	for _, ps := range r.ports {
		if ps.proto != pr.port.Protocol {
			continue
		}
		switch {
		case pr.name != "" && ps.name == pr.name:
			return true, "", true
		case ps.all:
			ok, need = true, ""
		case pr.name != "" && ps.name == "" && pr.guess:
			if !ok {
				ok, need = true, fmt.Sprintf("named port %q resolving into %s", pr.name, ps)
			}
		case pr.name == "" && ps.name == "" && ps.lo <= pr.port.Port && pr.port.Port <= ps.hi:
			return true, "", false
		case pr.name == "" && ps.name != "" && pr.guess:
			if !ok {
				ok, need = true, fmt.Sprintf("named port %q resolving to %s", ps.name, pr.port)
			}
		}
	}
	return ok, need, false
}

// blockMayHoldPod reports whether a pod of unknown IP could fall inside b.
func (e *Evaluator) blockMayHoldPod(b *ipBlock) bool {
	if len(e.podCIDRs) == 0 {
		return !covered(b.cidr, b.except)
	}
	for _, pc := range e.podCIDRs {
		if !pc.Overlaps(b.cidr) {
			continue
		}
		// Overlapping prefixes nest, so the intersection is the longer one.
		inter := pc
		if b.cidr.Bits() > pc.Bits() {
			inter = b.cidr
		}
		if !covered(inter, b.except) {
			return true
		}
	}
	return false
}

// covered reports whether the exceptions leave no address of p, splitting
// p in halves where exceptions cover it only partly.
func covered(p netip.Prefix, except []netip.Prefix) bool {
	var partial []netip.Prefix
	for _, x := range except {
		if x.Bits() <= p.Bits() && x.Contains(p.Addr()) {
			return true
		}
		if x.Overlaps(p) {
			partial = append(partial, x)
		}
	}
	if len(partial) == 0 || p.Bits() == p.Addr().BitLen() {
		return false
	}
	lo, hi := halves(p)
	return covered(lo, partial) && covered(hi, partial)
}

// halves splits p into its two prefixes one bit longer.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits()
	lo := netip.PrefixFrom(p.Addr(), bits+1)
	b := p.Addr().AsSlice()
	b[bits/8] |= 0x80 >> (bits % 8)
	a, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(a, bits+1)
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
