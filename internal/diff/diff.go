// Package diff compares a plan with what the cluster holds and returns the
// writes that bring the cluster to the plan, telling drift (an enforced object
// that was changed) apart from first applies and plan changes. It is pure.
package diff

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
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
	Drift *Drift
	// ResourceVersion and UID, on ReleaseLabels and DeletePolicy, are the
	// observed object's: the write is made only if the object is still the
	// one observed, so a pass working from a lagging cache never undoes what
	// another profile (or this one) wrote since.
	ResourceVersion string
	UID             string
}

// Drift is a change to an enforced object.
type Drift struct {
	// Namespace of the object.
	Namespace string
	// Kind is Namespace or NetworkPolicy.
	Kind string
	// Name of the object.
	Name string
	// Change is what happened.
	Change segv1.DriftChange
	// Detail names what differs, for messages.
	Detail string
}

// String describes the drift for a person.
func (d Drift) String() string {
	if d.Kind == "Namespace" {
		return fmt.Sprintf("Namespace %s: %s (%s)", d.Name, d.Change, d.Detail)
	}
	return fmt.Sprintf("NetworkPolicy %s/%s: %s", d.Namespace, d.Name, d.Change)
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
	// Seen are the namespaces where the profile's policy has existed, as far
	// as the caller knows: a policy missing there was deleted, while one
	// missing elsewhere may never have been created (a first apply cut
	// short between the labels and the policy).
	Seen map[string]bool
	// Verified, when set, remembers the policies found to match their plan,
	// so a steady pass compares each policy version once.
	Verified *Verified
}

// Verified remembers, by namespace, the version of a managed policy that
// was compared with a plan and matched it. Any change to the policy gives
// it a new resourceVersion, and any change to the plan a new hash or owner,
// so a remembered match stays true. Not safe for concurrent use.
type Verified struct {
	matched map[string]verifiedKey
}

// verifiedKey is the policy's version (the cached object's string, not a
// copy) and a digest of the policy's UID and the plan (hash and owner).
type verifiedKey struct {
	resourceVersion string
	digest          uint64
}

// NewVerified returns an empty memory.
func NewVerified() *Verified { return &Verified{matched: map[string]verifiedKey{}} }

// policyMatches is PolicyMatches, answered from memory when this version
// of the observed policy already matched this plan.
func (v *Verified) policyMatches(observed *networkingv1.NetworkPolicy, g *render.GovernedNamespace) bool {
	if v == nil || observed == nil || observed.ResourceVersion == "" {
		return PolicyMatches(observed, g.Policy)
	}
	d := fnvAdd(fnvAdd(fnvOffset, string(observed.UID)), g.Hash)
	for _, ref := range g.Policy.OwnerReferences {
		d = fnvAdd(d, string(ref.UID))
	}
	key := verifiedKey{resourceVersion: observed.ResourceVersion, digest: d}
	if v.matched[g.Name] == key {
		return true
	}
	if !PolicyMatches(observed, g.Policy) {
		delete(v.matched, g.Name)
		return false
	}
	v.matched[g.Name] = key
	return true
}

// FNV-1a, 64 bits, over strings each followed by a zero byte; inline so a
// pass allocates nothing for it.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h * fnvPrime // the zero byte that ends s (h ^ 0 == h)
}

// Forget drops what is remembered about namespaces no longer planned, so
// the memory stays as large as the plan.
func (v *Verified) Forget(plan *render.Plan) {
	if v == nil {
		return
	}
	for ns := range v.matched {
		if plan.Lookup(ns) == nil {
			delete(v.matched, ns)
		}
	}
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
	obs.Verified.Forget(plan)
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
		enforced = obs.Seen[g.Name] && labels[render.ProfileLabel] == plan.Profile && labels[plan.TierLabelKey] == g.Tier
	}

	var actions []Action
	if !LabelsMatch(labels, g.Labels) {
		missing, changed := labelDifferences(labels, g.Labels)
		a := Action{Type: ApplyLabels, Namespace: g.Name, Labels: g.Labels}
		if enforced {
			d := &Drift{Namespace: g.Name, Kind: "Namespace", Name: g.Name, Change: segv1.DriftLabelChanged}
			if len(missing) > 0 {
				d.Change = segv1.DriftLabelRemoved
			}
			d.Detail = strings.Join(append(missing, changed...), ", ")
			a.Drift = d
		}
		actions = append(actions, a)
	}
	if !obs.Verified.policyMatches(pol, g) {
		a := Action{Type: ApplyPolicy, Namespace: g.Name, Policy: g.Policy}
		if enforced {
			change := segv1.DriftModified
			if pol == nil {
				change = segv1.DriftDeleted
			}
			a.Drift = &Drift{Namespace: g.Name, Kind: "NetworkPolicy", Name: render.PolicyName, Change: change}
		}
		actions = append(actions, a)
	}
	return actions
}

// labelDifferences returns the owned keys missing from current and those
// with another value, sorted.
func labelDifferences(current, owned map[string]string) (missing, changed []string) {
	for _, k := range slices.Sorted(maps.Keys(owned)) {
		v, ok := current[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case v != owned[k]:
			changed = append(changed, k)
		}
	}
	return missing, changed
}

// LabelsMatch reports whether current carries every owned label.
func LabelsMatch(current, owned map[string]string) bool {
	for k, v := range owned {
		if cv, ok := current[k]; !ok || cv != v {
			return false
		}
	}
	return true
}

// PolicyMatches reports whether an observed policy has everything the
// planned one sets: its spec, its labels and annotations, and its owner
// references. Fields others added (labels, annotations) are not compared.
func PolicyMatches(observed, planned *networkingv1.NetworkPolicy) bool {
	if observed == nil {
		return false
	}
	for k, v := range planned.Labels {
		if observed.Labels[k] != v {
			return false
		}
	}
	for k, v := range planned.Annotations {
		if observed.Annotations[k] != v {
			return false
		}
	}
	for _, want := range planned.OwnerReferences {
		if !slices.ContainsFunc(observed.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == want.UID }) {
			return false
		}
	}
	if len(planned.OwnerReferences) == 0 && slices.ContainsFunc(observed.OwnerReferences, func(o metav1.OwnerReference) bool {
		return o.Kind == "SegmentationProfile" && o.APIVersion == segv1.GroupVersion.String()
	}) {
		return false
	}
	return equality.Semantic.DeepEqual(observed.Spec, planned.Spec)
}
