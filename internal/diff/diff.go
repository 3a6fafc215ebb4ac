// Package diff compares a plan with what the cluster holds and returns the
// writes that bring the cluster to the plan, telling drift (an enforced object
// that was changed; internal/drift classifies it) apart from first applies
// and plan changes. It is pure: what a caller remembers between passes comes
// in through Observed's predicates.
package diff

import (
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

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
	// ApplyClusterPolicy applies a ClusterNetworkPolicy.
	ApplyClusterPolicy ActionType = "ApplyClusterPolicy"
	// DeleteClusterPolicy deletes a managed ClusterNetworkPolicy that is no
	// longer planned.
	DeleteClusterPolicy ActionType = "DeleteClusterPolicy"
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
	// ClusterPolicy is the ClusterNetworkPolicy to apply
	// (ApplyClusterPolicy); Name names the one to delete.
	ClusterPolicy *npav1beta1.ClusterNetworkPolicy
	Name          string
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
	// LabelsEnforced reports whether the namespace's labels were enforced
	// for the tier before, as far as the caller knows: where no
	// NetworkPolicy is planned (ClusterNetworkPolicy enforcement), no
	// policy's plan hash can prove it. Nil: nowhere.
	LabelsEnforced func(namespace, tier string) bool
}

// Key returns what orders an action's writes: writes with one key are
// made one after the other, in order; writes with different keys are
// independent.
func (a Action) Key() string {
	if a.Namespace == "" {
		return "\x00" + a.Name // cluster-scoped: one ClusterNetworkPolicy
	}
	return a.Namespace
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

	if g.Policy == nil {
		// No NetworkPolicy planned: the tier's ClusterNetworkPolicies
		// enforce the boundary. The profile's policy goes, after the
		// labels are in place.
		enforced = obs.LabelsEnforced != nil && obs.LabelsEnforced(g.Name, g.Tier)
	}

	var actions []Action
	if d := drift.Labels(g.Name, g.Labels, labels); d != nil {
		a := Action{Type: ApplyLabels, Namespace: g.Name, Labels: g.Labels}
		if enforced {
			a.Drift = d
		}
		actions = append(actions, a)
	}
	if g.Policy == nil {
		if pol != nil && pol.Labels[render.ProfileLabel] == plan.Profile {
			actions = append(actions, Action{Type: DeletePolicy, Namespace: g.Name, ResourceVersion: pol.ResourceVersion, UID: string(pol.UID)})
		}
		return actions
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

// ClusterPolicies returns the writes that bring the profile's
// ClusterNetworkPolicies to the planned ones: applies of those missing or
// differing, sorted by name, and the deletions of the profile's others
// (observed holds the managed ones of the profile only). A difference is
// drift when the observed policy carries the planned hash, or is missing
// and seen reports it existed: an edit or a deletion, not a plan change.
func ClusterPolicies(planned []npav1beta1.ClusterNetworkPolicy, observed map[string]*npav1beta1.ClusterNetworkPolicy,
	seen func(name string) bool) (applies, deletes []Action) {
	want := make(map[string]bool, len(planned))
	for i := range planned {
		p := &planned[i]
		want[p.Name] = true
		cur := observed[p.Name]
		if drift.ClusterPolicyMatches(cur, p) {
			continue
		}
		a := Action{Type: ApplyClusterPolicy, Name: p.Name, ClusterPolicy: p}
		hash := p.Annotations[render.PlanHashAnnotation]
		if (cur != nil && cur.Annotations[render.PlanHashAnnotation] == hash) || (cur == nil && seen != nil && seen(p.Name)) {
			a.Drift = drift.ClusterPolicy(p, cur)
		}
		applies = append(applies, a)
	}
	for name, cur := range observed {
		if !want[name] {
			deletes = append(deletes, Action{Type: DeleteClusterPolicy, Name: name, ResourceVersion: cur.ResourceVersion, UID: string(cur.UID)})
		}
	}
	sort.Slice(applies, func(i, j int) bool { return applies[i].Name < applies[j].Name })
	sort.Slice(deletes, func(i, j int) bool { return deletes[i].Name < deletes[j].Name })
	return applies, deletes
}
