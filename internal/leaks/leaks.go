// Package leaks finds holes in a profile's isolation: traffic that the
// profile forbids but that the cluster's NetworkPolicies, taken together,
// allow. NetworkPolicies are additive, so any policy besides Tierguard's in a
// governed namespace (an allow-all, a namespaceSelector: {} rule, a Helm
// chart's policy) can open what the profile closes. The analysis is at
// namespace level (pods unknown) with internal/evaluate, and names the
// policies that open each hole. It is pure.
package leaks

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

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
	// Policy is the "namespace/name" of a policy that opens some of them.
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

// Find returns the leaks of a plan, sorted, given every namespace and every
// NetworkPolicy in the governed namespaces (others are ignored). Only
// namespaces that hold a policy other than Tierguard's are examined: without
// one, Tierguard's policy alone decides, and it is the intent.
func Find(profile *segv1.SegmentationProfile, plan *render.Plan, namespaces []render.Namespace, policies []networkingv1.NetworkPolicy) []Leak {
	byNS := map[string][]networkingv1.NetworkPolicy{}
	foreign := map[string]bool{}
	for _, p := range policies {
		if plan.Lookup(p.Namespace) == nil {
			continue
		}
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
		if !isManaged(p) {
			foreign[p.Namespace] = true
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	cluster := evaluate.Cluster{}
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
	f := &finder{plan: plan, eval: evaluate.New(cluster), intent: in, found: map[Leak]bool{}}
	peers := newPeerIndex(namespaces)
	for _, to := range slices.Sorted(maps.Keys(foreign)) {
		sources := peers.reach(byNS[to], ingress)
		for _, from := range live {
			if sources.has(from) {
				f.check(from, to)
			}
		}
	}
	if in.EgressIsolated() {
		for _, from := range slices.Sorted(maps.Keys(foreign)) {
			destinations := peers.reach(byNS[from], egress)
			for _, to := range live {
				if destinations.has(to) {
					f.check(from, to)
				}
			}
		}
	}
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

func (r reachable) has(ns string) bool { return r.all || r.set[ns] }

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
		if isManaged(*p) {
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

func isManaged(p networkingv1.NetworkPolicy) bool {
	return p.Name == render.PolicyName && p.Labels[render.ManagedByLabel] == render.ManagedByValue
}

type finder struct {
	plan   *render.Plan
	eval   *evaluate.Evaluator
	intent *intent.Intent
	found  map[Leak]bool
}

// check records the leaks from one namespace to another: one per policy
// that opens any of the ports beyond the intent, each with all of them.
func (f *finder) check(from, to string) {
	if from == to {
		return
	}
	intended := f.intent.Ports(from, to)
	if intended.All() {
		return
	}
	extra := f.eval.NamespacePorts(from, to).Possible.Minus(intended)
	if extra.Empty() {
		return
	}
	leak := Leak{To: to, Ports: strings.Join(extra.Strings(), ", ")}
	if g := f.plan.Lookup(from); g != nil {
		leak.FromTier = g.Tier
	} else {
		leak.FromNamespace = from
	}
	for _, p := range f.eval.NamespacePolicies(from, to, extra) {
		if strings.HasSuffix(p, "/"+render.PolicyName) && f.plan.Lookup(strings.TrimSuffix(p, "/"+render.PolicyName)) != nil {
			continue // Tierguard's own policy states the intent
		}
		l := leak
		l.Policy = p
		f.found[l] = true
	}
}
