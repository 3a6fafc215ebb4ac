package evaluate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// This file is the namespace-level counterpart of cnp.go: the ways the
// ClusterNetworkPolicy tiers can treat a pair of unknown pods, combined
// with the NetworkPolicies' ways (namespace.go) in the order cnp.go
// evaluates them.

// ClusterPolicyPrefix starts the key that names a ClusterNetworkPolicy in
// policy lists, "ClusterNetworkPolicy/<name>". A namespace name cannot
// start with an upper-case letter, so a key never reads as the
// "namespace/name" of a NetworkPolicy.
const ClusterPolicyPrefix = "ClusterNetworkPolicy/"

// ClusterPolicyKey is the key of the ClusterNetworkPolicy of that name.
func ClusterPolicyKey(name string) string { return ClusterPolicyPrefix + name }

// tierPath is one way a tier of ClusterNetworkPolicies can treat a pod
// pair: the rule that matches first, or no rule at all.
type tierPath struct {
	// matched is false for the way on which no rule matches.
	matched bool
	action  cnpAction
	// policy is the key of the matching rule's policy.
	policy string
	// pos is what the pods need for the rule to match; neg, that no rule
	// before it matches.
	pos   term
	neg   []clause
	needs []string
	// approx and byName are as for nsAlt.
	approx, byName bool
}

func (t tierPath) clauses() []clause {
	return append([]clause{{t.pos}}, t.neg...)
}

// side lists the ways one direction of the pair can admit a connection and
// the ways it can refuse one, tier by tier: the Admin tier's rules, then,
// where they pass or do not match, the NetworkPolicies, and where no
// NetworkPolicy selects the pod, the Baseline tier's rules, then allow.
func (np *NamespacePair) side(dir direction, port probe) nsSide {
	selfNS, peerNS := np.to, np.from
	admin, baseline := np.ingAdmin, np.ingBaseline
	if dir == egress {
		selfNS, peerNS = np.from, np.to
		admin, baseline = np.egAdmin, np.egBaseline
	}
	layer := np.e.nsAlternatives(dir, selfNS, peerNS, port)
	var sd nsSide
	if len(admin) == 0 && len(baseline) == 0 {
		// The NetworkPolicies alone decide.
		sd.alts = append(layer.rules, layer.open)
		if refusal := layer.refusal(); refusal != nil {
			sd.denials = [][]clause{refusal}
		}
		return sd
	}
	var basePaths []tierPath
	for _, a := range np.tierPaths(admin, dir, port) {
		if a.matched && a.action == cnpAccept {
			sd.alts = append(sd.alts, joinPaths(nsAlt{}, a))
			continue
		}
		if a.matched && a.action == cnpDeny {
			sd.denials = append(sd.denials, a.clauses())
			sd.refusals = append(sd.refusals, refusal{policy: a.policy, clauses: a.clauses()})
			continue
		}
		// Passed, or no Admin rule matched: the NetworkPolicies decide.
		for _, r := range layer.rules {
			sd.alts = append(sd.alts, joinPaths(r, a))
		}
		if refusal := layer.refusal(); refusal != nil {
			sd.denials = append(sd.denials, append(a.clauses(), refusal...))
		}
		// No NetworkPolicy selects the pod: the Baseline tier, then allow.
		if basePaths == nil {
			basePaths = np.tierPaths(baseline, dir, port)
		}
		open := joinPaths(layer.open, a)
		for _, b := range basePaths {
			if b.matched && b.action == cnpDeny {
				denial := append(open.clauses(), b.clauses()...)
				sd.denials = append(sd.denials, denial)
				sd.refusals = append(sd.refusals, refusal{policy: b.policy, clauses: denial})
				continue
			}
			sd.alts = append(sd.alts, joinPaths(open, b))
		}
	}
	return sd
}

// joinPaths extends a way with a tier's way: both must hold. A matching
// rule puts its policy on the way, whatever its action: its Accept or
// Pass lets the connection through.
func joinPaths(a nsAlt, t tierPath) nsAlt {
	out := a
	out.pos = append(slices.Clip(a.pos), t.pos...)
	out.neg = append(slices.Clip(a.neg), t.neg...)
	out.needs = append(slices.Clip(a.needs), t.needs...)
	out.approx = a.approx || t.approx
	out.byName = a.byName || t.byName
	if t.matched {
		out.cluster = append(slices.Clip(a.cluster), t.policy)
	}
	return out
}

// tierPaths lists the ways the policies of one tier (those whose subject
// namespaces hold the pair's end in direction dir, in evaluation order)
// can treat a connection: for each rule that may match, that it is the
// first to do so; and that none does. Within a policy, and between
// priorities, an earlier rule that matches hides the later ones; between
// policies of equal priority nothing is hidden, as their order is the
// implementation's. A rule that matches only by a guess (a named port, an
// address) hides nothing, as it may not match.
func (np *NamespacePair) tierPaths(tier []*clusterPolicy, dir direction, port probe) []tierPath {
	if len(tier) == 0 {
		return []tierPath{{}}
	}
	selfNS, peerNS := np.to, np.from
	selfSide, peerSide := dstSide, srcSide
	selfRole, peerRole := "destination", "source"
	if dir == egress {
		selfNS, peerNS = np.from, np.to
		selfSide, peerSide = srcSide, dstSide
		selfRole, peerRole = peerRole, selfRole
	}
	var (
		paths []tierPath
		// before is "no rule of an earlier priority matches".
		before      []clause
		beforeNeeds []string
	)
	for start := 0; start < len(tier); {
		end := start + 1
		for end < len(tier) && tier[end].priority == tier[start].priority {
			end++
		}
		var group []clause
		var groupNeeds []string
		first, deciders := len(paths), map[string]bool{}
		for _, p := range tier[start:end] {
			key := ClusterPolicyKey(p.name)
			var subject term
			var subjectNeeds []string
			if p.subjectPods != nil && !p.subjectPods.matchesAll() {
				subject = p.subjectPods.onSide(selfSide)
				subjectNeeds = []string{fmt.Sprintf("a %s pod in %s matching %s (subject of %s)", selfRole, selfNS, p.subjectPods.text, key)}
			}
			// local is "no earlier rule of this policy matches".
			var local []clause
			var localNeeds []string
		rules:
			for _, r := range cnpRules(p, dir) {
				ok, portNeed, byName := r.mayMatchProbe(port)
				if !ok {
					continue
				}
				for _, pr := range r.peers {
					m, ok := np.e.cnpPeerMayMatch(pr, key, peerNS, peerSide, peerRole)
					if !ok {
						continue
					}
					t := tierPath{
						matched: true, action: r.action, policy: key,
						pos:    append(slices.Clip(subject), m.pos...),
						neg:    concat(before, local),
						needs:  concat(beforeNeeds, localNeeds, subjectNeeds, m.needs),
						approx: m.approx || portNeed != "",
						byName: byName,
					}
					if portNeed != "" {
						t.needs = append(t.needs, portNeed+" on the destination pod")
					}
					paths = append(paths, t)
					deciders[key] = true
					if !t.approx {
						miss := negateTerm(t.pos)
						local = append(local, miss)
						group = append(group, miss)
						if len(miss) == 0 {
							break rules // it matches every pair: the rest of the policy is never reached
						}
					}
					// A guess is not ruled out, only assumed wrong.
					need := fmt.Sprintf("a pod pair that rule %q of %s does not match", r.name, key)
					localNeeds = append(localNeeds, need)
					groupNeeds = append(groupNeeds, need)
				}
			}
		}
		if len(deciders) > 1 {
			for i := first; i < len(paths); i++ {
				paths[i].needs = append(paths[i].needs, fmt.Sprintf("%s deciding before the other policies of priority %d (their order is the implementation's)",
					paths[i].policy, tier[start].priority))
			}
		}
		before = append(before, group...)
		beforeNeeds = append(beforeNeeds, groupNeeds...)
		if slices.ContainsFunc(group, func(c clause) bool { return len(c) == 0 }) {
			return paths // some rule matches every pair: nothing falls through
		}
		start = end
	}
	return append(paths, tierPath{neg: before, needs: beforeNeeds})
}

func concat[T any](lists ...[]T) []T {
	var out []T
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func cnpRules(p *clusterPolicy, dir direction) []cnpRule {
	if dir == ingress {
		return p.ingress
	}
	return p.egress
}

// cnpPeerMatch is what a pod of the peer namespace needs to be among a
// peer's pods.
type cnpPeerMatch struct {
	pos    term
	needs  []string
	approx bool
}

// cnpPeerMayMatch reports whether some pod of peerNS may be among pr's
// pods, and what it then needs. A networks peer holds a pod whose address
// falls inside: surely when the networks hold every pod address, by a
// guess when they hold only some.
func (e *Evaluator) cnpPeerMayMatch(pr cnpPeer, key, peerNS string, peerSide side, peerRole string) (cnpPeerMatch, bool) {
	var m cnpPeerMatch
	switch {
	case pr.unmodelled:
		return m, false
	case len(pr.networks) > 0:
		if !e.networksMayHoldPod(pr.networks) {
			return m, false
		}
		if !e.networksHoldEveryPod(pr.networks) {
			m.approx = true
			m.needs = []string{fmt.Sprintf("a %s pod IP inside networks %s (%s)", peerRole, prefixList(pr.networks), key)}
		}
		return m, true
	case !pr.namespaces.sel.Matches(e.namespaceLabels(peerNS)):
		return m, false
	}
	if pr.pods != nil && !pr.pods.matchesAll() {
		m.pos = pr.pods.onSide(peerSide)
		m.needs = []string{fmt.Sprintf("a %s pod in %s matching %s (peer of %s)", peerRole, peerNS, pr.pods.text, key)}
	}
	return m, true
}

// networksMayHoldPod reports whether a pod of unknown IP could fall inside
// one of the networks.
func (e *Evaluator) networksMayHoldPod(nets []netip.Prefix) bool {
	if len(e.podCIDRs) == 0 {
		return len(nets) > 0
	}
	for _, pc := range e.podCIDRs {
		for _, n := range nets {
			if pc.Overlaps(n) {
				return true
			}
		}
	}
	return false
}

// everyAddress is what pod IPs may be when PodCIDRs are unknown.
var everyAddress = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// networksHoldEveryPod reports whether every possible pod IP falls inside
// the networks together.
func (e *Evaluator) networksHoldEveryPod(nets []netip.Prefix) bool {
	pods := e.podCIDRs
	if len(pods) == 0 {
		pods = everyAddress
	}
	for _, pc := range pods {
		if !covered(pc, nets) {
			return false
		}
	}
	return true
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// mayMatchProbe is portMayMatch for a ClusterNetworkPolicy rule. A
// destinationNamedPort names a container port of any protocol.
func (r cnpRule) mayMatchProbe(pr probe) (ok bool, need string, byName bool) {
	if len(r.protocols) == 0 {
		return true, "", false
	}
	for _, c := range r.protocols {
		switch {
		case c.named != "":
			if pr.name != "" {
				if c.named == pr.name {
					return true, "", true
				}
				continue
			}
			if pr.guess && !ok {
				ok, need = true, fmt.Sprintf("named port %q resolving to %s", c.named, pr.port)
			}
		case c.proto != pr.port.Protocol:
		case c.lo <= minPort && c.hi >= maxPort:
			if pr.name == "" {
				return true, "", false
			}
			ok, need = true, ""
		case pr.name != "":
			if pr.guess && !ok {
				ok, need = true, fmt.Sprintf("named port %q resolving into %s", pr.name, PortRange{Protocol: c.proto, From: c.lo, To: c.hi})
			}
		case c.lo <= pr.port.Port && pr.port.Port <= c.hi:
			return true, "", false
		}
	}
	return ok, need, false
}
