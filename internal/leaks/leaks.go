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

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

// Leak is traffic the profile forbids that the policies allow.
type Leak struct {
	// FromTier is the source tier, when the sources are governed.
	FromTier string
	// FromNamespace is the source namespace, when it is not governed.
	FromNamespace string
	// To is the destination namespace.
	To string
	// Ports are the ports open beyond the profile's intent, e.g. "TCP/all".
	Ports string
	// Policy is the "namespace/name" of a policy that opens it.
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
	f := &finder{
		profile: profile, plan: plan, eval: evaluate.New(cluster),
		shared: sharedNamespaces(profile, namespaces), egress: profile.Spec.Egress.Isolation == segv1.EgressIsolationTier,
		found: map[Leak]bool{},
	}
	for _, to := range slices.Sorted(maps.Keys(foreign)) {
		for _, from := range live {
			f.check(from, to)
		}
	}
	if f.egress {
		for _, from := range slices.Sorted(maps.Keys(foreign)) {
			for _, to := range live {
				f.check(from, to)
			}
		}
	}
	out := make([]Leak, 0, len(f.found))
	for l := range f.found {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Leak) int {
		return cmp.Or(strings.Compare(a.To, b.To), strings.Compare(a.Source(), b.Source()),
			strings.Compare(a.Policy, b.Policy), strings.Compare(a.Ports, b.Ports))
	})
	return out
}

func isManaged(p networkingv1.NetworkPolicy) bool {
	return p.Name == render.PolicyName && p.Labels[render.ManagedByLabel] == render.ManagedByValue
}

type finder struct {
	profile *segv1.SegmentationProfile
	plan    *render.Plan
	eval    *evaluate.Evaluator
	shared  map[string]bool
	egress  bool
	found   map[Leak]bool
}

// check records the leaks from one namespace to another.
func (f *finder) check(from, to string) {
	if from == to {
		return
	}
	intended := f.intended(from, to)
	if intended.all {
		return
	}
	actual := f.eval.NamespacePorts(from, to).Possible
	extra := intended.subtract(actual.Ranges)
	if len(extra) == 0 {
		return
	}
	v := f.eval.NamespaceAllowed(from, to, evaluate.Port{Protocol: extra[0].Protocol, Port: extra[0].From})
	leak := Leak{To: to, Ports: rangesString(extra)}
	if g := f.plan.Lookup(from); g != nil {
		leak.FromTier = g.Tier
	} else {
		leak.FromNamespace = from
	}
	for _, p := range append(slices.Clone(v.IngressPolicies), v.EgressPolicies...) {
		if strings.HasSuffix(p, "/"+render.PolicyName) && f.plan.Lookup(strings.TrimSuffix(p, "/"+render.PolicyName)) != nil {
			continue // Tierguard's own policy states the intent
		}
		l := leak
		l.Policy = p
		f.found[l] = true
	}
}

// intended returns the ports on which the profile means traffic from one
// namespace to reach another.
func (f *finder) intended(from, to string) portIntent {
	in := f.ingressIntent(from, to)
	if !f.egress || f.plan.Lookup(from) == nil {
		return in
	}
	return in.intersect(f.egressIntent(from, to))
}

func (f *finder) ingressIntent(from, to string) portIntent {
	dst := f.plan.Lookup(to)
	if dst == nil || f.shared[from] {
		return portIntent{all: true}
	}
	src := f.plan.Lookup(from)
	if src == nil {
		return portIntent{}
	}
	return f.tierIntent(src.Tier, dst.Tier)
}

func (f *finder) egressIntent(from, to string) portIntent {
	src := f.plan.Lookup(from)
	if f.shared[to] {
		return portIntent{all: true}
	}
	var out portIntent
	if dst := f.plan.Lookup(to); dst != nil {
		out = f.tierIntent(src.Tier, dst.Tier)
	}
	if to == "kube-system" && render.AllowDNS(f.profile) {
		out = out.union(portIntent{ranges: []evaluate.PortRange{
			{Protocol: corev1.ProtocolTCP, From: 53, To: 53}, {Protocol: corev1.ProtocolUDP, From: 53, To: 53}}})
	}
	return out
}

// tierIntent is what flows between tiers allow: everything within a tier
// isolated by Tier, the flows' ports across tiers.
func (f *finder) tierIntent(from, to string) portIntent {
	if from == to {
		for _, t := range f.profile.Spec.Tiers {
			if string(t.Name) == to {
				return portIntent{all: t.Isolation != segv1.IsolationNamespace}
			}
		}
		return portIntent{}
	}
	var out portIntent
	for _, fl := range f.profile.Spec.Flows {
		if string(fl.From) == from && string(fl.To) == to {
			out = out.union(flowIntent(fl.Ports))
		}
	}
	return out
}

func sharedNamespaces(p *segv1.SegmentationProfile, namespaces []render.Namespace) map[string]bool {
	out := map[string]bool{}
	set := p.Spec.SharedNamespaces
	if set == nil {
		return out
	}
	for _, n := range set.Names {
		out[string(n)] = true
	}
	if set.Selector != nil {
		sel, err := metaSelector(set.Selector)
		if err == nil {
			for _, ns := range namespaces {
				if sel.Matches(labelSet(ns.Labels)) {
					out[ns.Name] = true
				}
			}
		}
	}
	return out
}
