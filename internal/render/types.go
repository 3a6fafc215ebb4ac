// Package render turns a SegmentationProfile and the cluster's namespaces into
// the exact state Tierguard keeps: the labels it owns on each governed
// namespace and that namespace's one NetworkPolicy. It is pure and
// deterministic: the controller and the kubectl plugin call the same code, so
// what a user previews is what the cluster gets.
package render

import (
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Names and labels Tierguard writes.
const (
	// PolicyName is the name of the one NetworkPolicy in a governed namespace.
	PolicyName = "tierguard-isolation"
	// ProfileLabel carries the name of the governing profile, on namespaces
	// and managed policies.
	ProfileLabel = "segmentation.tierguard.io/profile"
	// PolicyTierLabel carries the tier on managed policies.
	PolicyTierLabel = "segmentation.tierguard.io/tier"
	// ManagedByLabel marks managed policies.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is ManagedByLabel's value.
	ManagedByValue = "tierguard"
	// PlanHashAnnotation records, on a managed policy, the hash of the plan
	// for its namespace when it was applied, so a later difference can be told
	// apart as drift (same plan) or as a plan change.
	PlanHashAnnotation = "segmentation.tierguard.io/plan-hash"
	// MetadataNameLabel is set by the API server to the namespace's name.
	MetadataNameLabel = "kubernetes.io/metadata.name"
	// DefaultTierLabelKey is the default tierLabelKey.
	DefaultTierLabelKey = "segmentation.tierguard.io/tier"
)

// AlwaysExcluded are namespaces that are never governed.
var AlwaysExcluded = []string{"kube-system", "kube-public", "kube-node-lease"}

// Namespace is what the plan needs to know of a namespace.
type Namespace struct {
	// Name is the namespace's name.
	Name string
	// Labels are its current labels.
	Labels map[string]string
	// Terminating is true when the namespace is being deleted.
	Terminating bool
}

// Input is everything a plan is computed from.
type Input struct {
	// Profile is the profile to plan, with defaults applied.
	Profile *segv1.SegmentationProfile
	// OtherProfiles are the cluster's other profiles, for cross-profile
	// conflicts. Profiles being deleted are ignored.
	OtherProfiles []segv1.SegmentationProfile
	// Namespaces are the cluster's namespaces.
	Namespaces []Namespace
	// OperatorNamespace is the namespace Tierguard runs in; never governed.
	OperatorNamespace string
}

// Plan is the state Tierguard keeps for one profile.
type Plan struct {
	// Profile is the profile's name.
	Profile string
	// ProfileUID is the profile's UID, for owner references.
	ProfileUID types.UID
	// TierLabelKey is the label carrying the tier.
	TierLabelKey string
	// Governed are the governed namespaces, sorted by name.
	Governed []GovernedNamespace
	// Held are namespaces in a conflict whose current state Tierguard keeps
	// as it is (fail safe: neither applied nor cleaned up), sorted.
	Held []string
	// Conflicts are the conflicts, sorted by namespace and reason.
	Conflicts []Conflict
	// Skipped are the namespaces a tier or the shared set matched but that
	// are left alone, with the reason, sorted by namespace.
	Skipped []Skipped
	// Retained are namespaces that left every tier and keep what Tierguard
	// last enforced on them (leavePolicy Retain), sorted; they are also Held.
	Retained []string
	// Shared are the shared namespaces, sorted: those sharedNamespaces
	// matches that are neither excluded nor terminating, also when a tier
	// matches them too (treated as shared only).
	Shared []string
	// Blocked is set when the profile governs nothing because of a
	// profile-wide conflict (TierLabelKeyInUse).
	Blocked bool

	// index locates Governed entries by name; Compute builds it, and Lookup
	// falls back to a binary search for plans built otherwise. Compare
	// plans with cmpopts.IgnoreUnexported(Plan{}).
	index map[string]int
}

// GovernedNamespace is the plan for one namespace.
type GovernedNamespace struct {
	// Name is the namespace.
	Name string
	// Tier is its tier.
	Tier string
	// Labels are the labels Tierguard owns on it.
	Labels map[string]string
	// Policy is its NetworkPolicy, fully defaulted as the API server would
	// store it, with PlanHashAnnotation set. Its spec and metadata maps are
	// shared with the tier's other namespaces: copy before changing them.
	Policy *networkingv1.NetworkPolicy
	// Hash identifies this namespace's plan (labels and policy).
	Hash string
}

// Conflict is a namespace claimed twice or a profile-wide conflict.
type Conflict struct {
	// Namespace is empty for a profile-wide conflict.
	Namespace string
	// Reason is the conflict kind.
	Reason segv1.ConflictReason
	// Message explains it.
	Message string
}

// Skipped is a namespace left alone.
type Skipped struct {
	// Namespace is the namespace.
	Namespace string
	// Reason says why it is left alone.
	Reason string
}

// TierCounts returns the number of governed namespaces per tier, in the
// profile's tier order, including tiers with none.
func (p *Plan) TierCounts(profile *segv1.SegmentationProfile) []segv1.TierStatus {
	counts := map[string]int32{}
	for _, g := range p.Governed {
		counts[g.Tier]++
	}
	out := make([]segv1.TierStatus, 0, len(profile.Spec.Tiers))
	for _, t := range profile.Spec.Tiers {
		out = append(out, segv1.TierStatus{Name: string(t.Name), Namespaces: counts[string(t.Name)]})
	}
	return out
}

// Lookup returns the plan for a namespace, or nil.
func (p *Plan) Lookup(namespace string) *GovernedNamespace {
	if p.index != nil && len(p.index) == len(p.Governed) {
		if i, ok := p.index[namespace]; ok && p.Governed[i].Name == namespace {
			return &p.Governed[i]
		}
		return nil
	}
	i, ok := slices.BinarySearchFunc(p.Governed, namespace, func(g GovernedNamespace, name string) int {
		return strings.Compare(g.Name, name)
	})
	if !ok {
		return nil
	}
	return &p.Governed[i]
}

// WithGoverned returns a copy of the plan that also governs the namespaces
// of gs, which it did not (the plan is not changed; the copy shares its
// other lists).
func (p *Plan) WithGoverned(gs ...GovernedNamespace) *Plan {
	out := *p
	out.index = nil
	out.Governed = slices.Clone(p.Governed)
	for _, g := range gs {
		i, _ := slices.BinarySearchFunc(out.Governed, g.Name, func(e GovernedNamespace, name string) int {
			return strings.Compare(e.Name, name)
		})
		out.Governed = slices.Insert(out.Governed, i, g)
	}
	return &out
}

// IsHeld reports whether a namespace's state is kept as it is.
func (p *Plan) IsHeld(namespace string) bool {
	_, ok := slices.BinarySearch(p.Held, namespace)
	return ok
}

// IsManagedPolicy reports whether a NetworkPolicy is one Tierguard keeps: its
// name and the managed-by label. (Which profile it belongs to is its
// ProfileLabel.)
func IsManagedPolicy(p *networkingv1.NetworkPolicy) bool {
	return p.Name == PolicyName && p.Labels[ManagedByLabel] == ManagedByValue
}
