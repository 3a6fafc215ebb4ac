// Package leaks finds holes in a profile's isolation: traffic that the
// profile forbids but that the cluster's policies, taken together, allow.
// NetworkPolicies are additive, so any policy besides Tierguard's in a
// governed namespace (an allow-all, a namespaceSelector: {} rule, a Helm
// chart's policy) can open what the profile closes; an Admin
// ClusterNetworkPolicy is evaluated before every NetworkPolicy, so one that
// accepts, or passes on, traffic ahead of Tierguard's can open it too. The
// analysis is at namespace level (pods unknown) with internal/evaluate, and
// names the policies that open each hole. It is pure.
package leaks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

// Leak is traffic the profile forbids that the policies allow. A hole that
// several policies open is one Leak per policy, each with the hole's ports.
type Leak struct {
	// FromTier is the source tier, when the sources are governed.
	FromTier string
	// FromNamespace is the source namespace, when it is not governed.
	FromNamespace string
	// To is the destination namespace.
	To string
	// Ports are the ports open beyond the profile's intent, e.g. "TCP/all",
	// "TCP/22, TCP/8080" or, for a named port, TCP/"ssh".
	Ports string
	// Policy is the "namespace/name" of a NetworkPolicy, or the
	// "ClusterNetworkPolicy/name" of a ClusterNetworkPolicy, that opens
	// some of them: an Admin one that accepts the traffic or passes it on
	// to the NetworkPolicies, a Baseline one that accepts it.
	Policy string
}

// Source names the leak's source for a person.
func (l Leak) Source() string {
	if l.FromTier != "" {
		return "tier " + l.FromTier
	}
	return "namespace " + l.FromNamespace
}

// String describes the leak for a person.
func (l Leak) String() string {
	return fmt.Sprintf("%s to namespace %s on %s, opened by %s", l.Source(), l.To, l.Ports, l.Policy)
}

// Find is FindWith for a cluster without ClusterNetworkPolicies.
func Find(profile *segv1.SegmentationProfile, plan *render.Plan, namespaces []render.Namespace, policies []networkingv1.NetworkPolicy) []Leak {
	return FindWith(profile, plan, namespaces, policies, nil)
}

// FindWith returns the leaks of a plan, sorted, given every namespace (with
// the labels Tierguard sets), every NetworkPolicy in the governed
// namespaces (others are ignored) and every ClusterNetworkPolicy, of either
// tier. policies hold Tierguard's planned NetworkPolicies when the profile's
// enforcement uses them, and clusterPolicies its planned
// ClusterNetworkPolicies when it uses those (recognized by their profile
// and managed-by labels and name prefix), next to every other policy.
//
// Only pairs of namespaces that some other policy can open are examined: a
// NetworkPolicy's peers into (or, with egress isolation, out of) its
// governed namespace, and an Admin ClusterNetworkPolicy's Accept and Pass
// rules, between their subject and peer namespaces, when the policy may
// come before Tierguard's (a lower priority number or an equal one, whose
// order the API leaves undefined; any priority when Tierguard writes no
// ClusterNetworkPolicy). Without other policies, Tierguard's alone decide,
// and they are the intent: nothing is computed. Deny rules, and Baseline
// policies, close traffic or apply after Tierguard's; the analysis counts
// them where they decide, but they never make a pair worth examining.
func FindWith(profile *segv1.SegmentationProfile, plan *render.Plan, namespaces []render.Namespace,
	policies []networkingv1.NetworkPolicy, clusterPolicies []npav1beta1.ClusterNetworkPolicy) []Leak {
	// The controller asks on every change: a cluster with nothing but
	// Tierguard's policies costs one pass over them, without allocating.
	cnps := classify(profile, clusterPolicies)
	if len(cnps.openers) == 0 && !anyForeign(plan, policies) {
		return nil
	}
	byNS := map[string][]networkingv1.NetworkPolicy{}
	foreign := map[string]bool{}
	for _, p := range policies {
		if plan.Lookup(p.Namespace) == nil {
			continue
		}
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
		if !isManaged(&p) {
			foreign[p.Namespace] = true
		}
	}
	cluster := evaluate.Cluster{ClusterNetworkPolicies: clusterPolicies}
	var live []string
	for _, ns := range namespaces {
		if ns.Terminating {
			continue
		}
		cluster.Namespaces = append(cluster.Namespaces, evaluate.Namespace{Name: ns.Name, Labels: ns.Labels})
		live = append(live, ns.Name)
	}
	for _, ps := range byNS {
		cluster.Policies = append(cluster.Policies, ps...)
	}
	in, err := intent.New(profile, plan, namespaces)
	if err != nil {
		return nil // a selector admission validation refuses
	}
	f := &finder{plan: plan, eval: evaluate.New(cluster), intent: in, managed: managedKeys(profile, clusterPolicies),
		classes: newSourceClasses(plan, in, namespaces, byNS, clusterPolicies),
		found:   map[Leak]bool{}, opened: map[openedKey]*opening{}}
	peers := newPeerIndex(namespaces)
	candidates := pairs{}
	for ns := range foreign {
		candidates.add(ingress, reachable{set: map[string]bool{ns: true}}, peers.reach(byNS[ns], ingress))
		if in.EgressIsolated() {
			candidates.add(egress, reachable{set: map[string]bool{ns: true}}, peers.reach(byNS[ns], egress))
		}
	}
	for _, c := range cnps.openers {
		peers.reachCluster(c, &candidates, in.EgressIsolated())
	}
	candidates.each(live, f.classes.group, f.check)
	out := make([]Leak, 0, len(f.found))
	for l := range f.found {
		out = append(out, l)
	}
	// Holes between tiers first: they are the profile's own promise, and
	// status lists only the first ones.
	slices.SortFunc(out, func(a, b Leak) int {
		return cmp.Or(strings.Compare(a.To, b.To), cmp.Compare(sourceRank(a), sourceRank(b)),
			strings.Compare(a.Source(), b.Source()), strings.Compare(a.Policy, b.Policy), strings.Compare(a.Ports, b.Ports))
	})
	return out
}

// A pair of namespaces can leak only through a policy besides Tierguard's
// that admits the other side: without one, Tierguard's policy alone decides
// that side, and it is the intent. peerIndex finds, for the foreign policies
// of a namespace, the namespaces their rules can admit, so that a cluster
// whose namespaces hold policies of their own (an application's, admitting
// pods of the same namespace) is not checked pair by pair: that is
// quadratic, minutes at 5,000 namespaces.
type peerIndex struct {
	namespaces []render.Namespace
	// bySelector memoizes the namespaces a namespaceSelector matches: the
	// same selector (for example, the ingress controller's namespace)
	// recurs in many namespaces' policies.
	bySelector map[string]map[string]bool
}

type direction int

const (
	ingress direction = iota
	egress
)

// reachable is a set of namespaces, or every namespace.
type reachable struct {
	all bool
	set map[string]bool
}

func (r reachable) empty() bool { return !r.all && len(r.set) == 0 }

// members lists the live namespaces of the set, in live's order.
func (r reachable) members(live []string, isLive map[string]bool) []string {
	if r.all {
		return live
	}
	out := make([]string, 0, len(r.set))
	for ns := range r.set {
		if isLive[ns] {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

// pairs are the pairs of namespaces worth examining, as products of a set
// of sources and a set of destinations.
type pairs []struct{ from, to reachable }

// add records the pairs between self, the namespaces a policy governs in
// direction dir, and peer, those it can admit.
func (ps *pairs) add(dir direction, self, peer reachable) {
	if self.empty() || peer.empty() {
		return
	}
	if dir == ingress {
		*ps = append(*ps, struct{ from, to reachable }{from: peer, to: self})
	} else {
		*ps = append(*ps, struct{ from, to reachable }{from: self, to: peer})
	}
}

// each calls fn for every destination of each product, with its sources
// grouped by group.
func (ps pairs) each(live []string, group func([]string) []sourceGroup, fn func(sources []sourceGroup, to string)) {
	isLive := make(map[string]bool, len(live))
	for _, ns := range live {
		isLive[ns] = true
	}
	var everyone []sourceGroup // every namespace, grouped once: many policies admit all
	for _, p := range ps {
		var sources []sourceGroup
		switch {
		case p.from.all && everyone != nil:
			sources = everyone
		case p.from.all:
			everyone = group(live)
			sources = everyone
		default:
			sources = group(p.from.members(live, isLive))
		}
		for _, to := range p.to.members(live, isLive) {
			fn(sources, to)
		}
	}
}

func newPeerIndex(namespaces []render.Namespace) *peerIndex {
	return &peerIndex{namespaces: namespaces, bySelector: map[string]map[string]bool{}}
}

// reach returns the namespaces whose pods the rules of the foreign policies
// among policies (all in one namespace) can admit, in one direction. It
// over-approximates: an empty peer list, or an ipBlock, reaches every
// namespace; a podSelector alone, only the policy's own namespace.
func (x *peerIndex) reach(policies []networkingv1.NetworkPolicy, dir direction) reachable {
	out := reachable{set: map[string]bool{}}
	for i := range policies {
		p := &policies[i]
		if isManaged(p) {
			continue
		}
		var peerLists [][]networkingv1.NetworkPolicyPeer
		if dir == ingress {
			for _, r := range p.Spec.Ingress {
				peerLists = append(peerLists, r.From)
			}
		} else {
			for _, r := range p.Spec.Egress {
				peerLists = append(peerLists, r.To)
			}
		}
		for _, peers := range peerLists {
			if len(peers) == 0 {
				return reachable{all: true}
			}
			for _, peer := range peers {
				switch {
				case peer.IPBlock != nil:
					return reachable{all: true}
				case peer.NamespaceSelector != nil:
					matched, ok := x.matching(peer.NamespaceSelector)
					if !ok {
						return reachable{all: true}
					}
					for ns := range matched {
						out.set[ns] = true
					}
				default:
					out.set[p.Namespace] = true
				}
			}
		}
	}
	return out
}

// matching returns the namespaces a namespaceSelector matches; false when
// the selector does not parse (the caller then assumes every namespace).
func (x *peerIndex) matching(sel *metav1.LabelSelector) (map[string]bool, bool) {
	key := sel.String()
	if m, ok := x.bySelector[key]; ok {
		return m, true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, false
	}
	m := map[string]bool{}
	for _, ns := range x.namespaces {
		if s.Matches(labels.Set(ns.Labels)) {
			m[ns.Name] = true
		}
	}
	x.bySelector[key] = m
	return m, true
}

// sourceRank orders tier sources before namespace sources.
func sourceRank(l Leak) int {
	if l.FromTier != "" {
		return 0
	}
	return 1
}

// anyForeign reports whether a governed namespace holds a policy besides
// Tierguard's.
func anyForeign(plan *render.Plan, policies []networkingv1.NetworkPolicy) bool {
	for i := range policies {
		if !isManaged(&policies[i]) && plan.Lookup(policies[i].Namespace) != nil {
			return true
		}
	}
	return false
}

func isManaged(p *networkingv1.NetworkPolicy) bool {
	return p.Name == render.PolicyName && p.Labels[render.ManagedByLabel] == render.ManagedByValue
}
