// Package diff compares a plan with what the cluster holds and returns the
// writes that bring the cluster to the plan, telling drift (an enforced object
// that was changed; internal/drift classifies it) apart from first applies
// and plan changes. It is pure: what a caller remembers between passes comes
// in through Observed's predicates.
package diff

import (
	"sort"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/render"
)

// ActionType is a kind of write.
type ActionType string

const (
	// ApplyLabels applies the labels Tierguard owns on a namespace.
	ApplyLabels ActionType = "ApplyLabels"
	// ReleaseLabels applies an empty label set, removing Tierguard's labels
	// from a namespace that is no longer governed.
	ReleaseLabels ActionType = "ReleaseLabels"
	// ApplyPolicy applies a namespace's NetworkPolicy.
	ApplyPolicy ActionType = "ApplyPolicy"
	// DeletePolicy deletes a managed NetworkPolicy that is no longer planned.
	DeletePolicy ActionType = "DeletePolicy"
)

// Action is one write.
type Action struct {
	// Type is the kind of write.
	Type ActionType
	// Namespace is the namespace written to.
	Namespace string
	// Labels are the labels to apply (ApplyLabels).
	Labels map[string]string
	// Policy is the policy to apply (ApplyPolicy).
	Policy *networkingv1.NetworkPolicy
	// Drift is set when the write repairs drift.
	Drift *drift.Finding
	// ResourceVersion and UID, on ReleaseLabels and DeletePolicy, are the
	// observed object's: the write is made only if the object is still the
	// one observed, so a pass working from a lagging cache never undoes what
	// another profile (or this one) wrote since.
	ResourceVersion string
	UID             string
}

// Observed is what the cluster holds.
type Observed struct {
	// NamespaceLabels are the current labels of every namespace, by name.
	NamespaceLabels map[string]map[string]string
	// NamespaceVersions are the namespaces' resourceVersions, by name, when
	// known; releases are made only at the observed version.
	NamespaceVersions map[string]string
	// Policies are the managed NetworkPolicies (name render.PolicyName) by
	// namespace, whichever profile they carry.
	Policies map[string]*networkingv1.NetworkPolicy
	// Seen reports whether the profile's policy has existed in a namespace,
	// as far as the caller knows: a policy missing there was deleted, while
	// one missing elsewhere may never have been created (a first apply cut
	// short between the labels and the policy). Nil: nowhere.
	Seen func(namespace string) bool
	// PolicyMatches, when set, replaces drift.PolicyMatches (a caller may
	// answer from memory for policy versions it compared before).
	PolicyMatches func(observed *networkingv1.NetworkPolicy, g *render.GovernedNamespace) bool
}

func (o Observed) seen(ns string) bool { return o.Seen != nil && o.Seen(ns) }

func (o Observed) policyMatches(observed *networkingv1.NetworkPolicy, g *render.GovernedNamespace) bool {
	if o.PolicyMatches != nil {
		return o.PolicyMatches(observed, g)
	}
	return drift.PolicyMatches(observed, g.Policy)
}

// Compute returns the writes that bring the cluster to the plan, sorted by
// namespace and, within a namespace, in the order they must be made.
func Compute(plan *render.Plan, obs Observed) []Action {
	var actions []Action
	for i := range plan.Governed {
		actions = append(actions, governedActions(plan, &plan.Governed[i], obs)...)
	}
	for ns, pol := range obs.Policies {
		if pol.Labels[render.ProfileLabel] != plan.Profile || plan.Lookup(ns) != nil || plan.IsHeld(ns) {
			continue
		}
		actions = append(actions, Action{Type: DeletePolicy, Namespace: ns, ResourceVersion: pol.ResourceVersion, UID: string(pol.UID)})
	}
	for ns, labels := range obs.NamespaceLabels {
		if labels[render.ProfileLabel] != plan.Profile || plan.Lookup(ns) != nil || plan.IsHeld(ns) {
			continue
		}
		actions = append(actions, Action{Type: ReleaseLabels, Namespace: ns, ResourceVersion: obs.NamespaceVersions[ns]})
	}
	sort.Slice(actions, func(i, j int) bool {
		if actions[i].Namespace != actions[j].Namespace {
			return actions[i].Namespace < actions[j].Namespace
		}
		return writeOrder[actions[i].Type] < writeOrder[actions[j].Type]
	})
	return actions
}

// writeOrder is the order of the writes to one namespace, which callers
// must keep: labels before the policy, so a policy carrying the plan's hash
// proves the labels were applied; and a namespace leaves its tier before
// its policy goes.
var writeOrder = map[ActionType]int{ApplyLabels: 0, ApplyPolicy: 1, ReleaseLabels: 2, DeletePolicy: 3}

func governedActions(plan *render.Plan, g *render.GovernedNamespace, obs Observed) []Action {
	labels, exists := obs.NamespaceLabels[g.Name]
	if !exists {
		return nil // gone since the plan was made
	}
	pol := obs.Policies[g.Name]
	// An object was enforced before when the policy carries this plan's hash
	// (labels are applied before the policy, so they were applied too), or,
	// when the policy is gone, it was seen and the namespace still carries
	// this tier.
	enforced := pol != nil && pol.Labels[render.ProfileLabel] == plan.Profile && pol.Annotations[render.PlanHashAnnotation] == g.Hash
	if pol == nil {
		enforced = obs.seen(g.Name) && labels[render.ProfileLabel] == plan.Profile && labels[plan.TierLabelKey] == g.Tier
	}

	var actions []Action
	if d := drift.Labels(g.Name, g.Labels, labels); d != nil {
		a := Action{Type: ApplyLabels, Namespace: g.Name, Labels: g.Labels}
		if enforced {
			a.Drift = d
		}
		actions = append(actions, a)
	}
	if !obs.policyMatches(pol, g) {
		a := Action{Type: ApplyPolicy, Namespace: g.Name, Policy: g.Policy}
		if enforced {
			a.Drift = drift.Policy(g.Policy, pol)
		}
		actions = append(actions, a)
	}
	return actions
}
