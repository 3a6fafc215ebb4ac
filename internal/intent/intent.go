package intent

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

// Intent is a profile's intended connectivity between namespaces, the rule
// that the controller's leak detection and the kubectl plugin's matrix both
// check the policies against: for pods in namespaces A and B, traffic
// A to B on a port is allowed by B's ingress when B is not governed, or A = B,
// or both are of tier t and t's isolation is Tier, or A is shared, or a flow
// from A's tier to B's covers the port; and, when A is governed and egress
// isolation is Tier, by A's egress when A = B, or both are of tier t with
// isolation Tier, or B is shared, or a flow covers the port, or B is
// a DNS target's namespace on its ports and allowDNS is set.
type Intent struct {
	profile *segv1.SegmentationProfile
	plan    *render.Plan
	shared  map[string]bool
	egress  bool
	// retained are the namespaces that left every tier and keep what
	// Tierguard enforced (leavePolicy Retain), with the tier they keep.
	retained map[string]string
}

// New reads the shared namespaces off the namespaces' current labels,
// as render does.
func New(profile *segv1.SegmentationProfile, plan *render.Plan, namespaces []render.Namespace) (*Intent, error) {
	shared, err := SharedNamespaces(profile, namespaces)
	if err != nil {
		return nil, err
	}
	in := &Intent{
		profile: profile, plan: plan, shared: shared,
		egress: profile.Spec.Egress.Isolation == segv1.EgressIsolationTier,
	}
	if len(plan.Retained) > 0 {
		in.retained = map[string]string{}
		for _, ns := range namespaces {
			if _, ok := slices.BinarySearch(plan.Retained, ns.Name); ok {
				in.retained[ns.Name] = ns.Labels[plan.TierLabelKey]
			}
		}
	}
	return in, nil
}

// EgressIsolated reports whether the profile isolates egress.
func (in *Intent) EgressIsolated() bool { return in.egress }

// Shared reports whether the profile shares a namespace with every tier.
func (in *Intent) Shared(ns string) bool { return in.shared[ns] }

// Tier returns a namespace's tier, or "" when the profile does not govern
// it. A namespace retained after leaving every tier keeps the tier it was
// in: its labels and policy say so until it is released.
func (in *Intent) Tier(ns string) string {
	if g := in.plan.Lookup(ns); g != nil {
		return g.Tier
	}
	return in.retained[ns]
}

// Ports returns the ports on which the profile means pods of one namespace
// to reach pods of another.
func (in *Intent) Ports(from, to string) evaluate.PortSet {
	if from == to {
		return evaluate.AllPorts()
	}
	out := in.ingress(from, to)
	if in.egress && in.Tier(from) != "" {
		out = out.Intersect(in.egressPorts(from, to))
	}
	return out
}

func (in *Intent) ingress(from, to string) evaluate.PortSet {
	b := in.Tier(to)
	if b == "" || in.shared[from] {
		return evaluate.AllPorts()
	}
	a := in.Tier(from)
	if a == "" {
		return evaluate.PortSet{}
	}
	return in.tierPorts(a, b)
}

func (in *Intent) egressPorts(from, to string) evaluate.PortSet {
	if in.shared[to] {
		return evaluate.AllPorts()
	}
	var out evaluate.PortSet
	if b := in.Tier(to); b != "" {
		out = in.tierPorts(in.Tier(from), b)
	}
	// Namespace level: a DNS rule admits only the DNS pods, which the
	// evaluator assumes exist, as the DNS target's namespace is expected to
	// hold them.
	if render.AllowDNS(in.profile) {
		targets := in.profile.Spec.Egress.DNSTargets
		if len(targets) == 0 {
			targets = render.DefaultDNSTargets
		}
		for _, t := range targets {
			if t.Namespace != nil && string(*t.Namespace) == to {
				out = out.Union(FlowPorts(t.Ports))
			}
		}
	}
	return out
}

// tierPorts is what the profile allows between namespaces of two tiers
// (different namespaces: A = B is decided before).
func (in *Intent) tierPorts(from, to string) evaluate.PortSet {
	if from == to {
		for _, t := range in.profile.Spec.Tiers {
			if string(t.Name) == to && t.Isolation != segv1.IsolationNamespace {
				return evaluate.AllPorts()
			}
		}
		return evaluate.PortSet{}
	}
	var out evaluate.PortSet
	for _, fl := range in.profile.Spec.Flows {
		if string(fl.From) == from && string(fl.To) == to {
			out = out.Union(FlowPorts(fl.Ports))
		}
	}
	return out
}

// SharedNamespaces returns the names of the namespaces the profile's
// sharedNamespaces select, by name or by label.
func SharedNamespaces(p *segv1.SegmentationProfile, namespaces []render.Namespace) (map[string]bool, error) {
	out := map[string]bool{}
	set := render.Effective(p, namespaces).Spec.SharedNamespaces
	if set == nil {
		return out, nil
	}
	for _, n := range set.Names {
		out[string(n)] = true
	}
	if set.Selector == nil {
		return out, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(render.MetaSelector(set.Selector))
	if err != nil {
		return nil, fmt.Errorf("sharedNamespaces.selector: %w", err)
	}
	for _, ns := range namespaces {
		if sel.Matches(labels.Set(ns.Labels)) {
			out[ns.Name] = true
		}
	}
	return out, nil
}
