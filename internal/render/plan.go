package render

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Skip reasons, as Skipped.Reason gives them; users read them in warnings.
const (
	// SkipAlwaysExcluded: kube-system, kube-public or kube-node-lease.
	SkipAlwaysExcluded = "always excluded (Kubernetes system namespace)"
	// SkipOperatorNamespace: the namespace Tierguard runs in.
	SkipOperatorNamespace = "the operator's own namespace"
	// SkipExcluded: listed in the profile's excludedNamespaces.
	SkipExcluded = "listed in excludedNamespaces"
	// SkipTerminating: the namespace is being deleted; it is also held.
	SkipTerminating = "being deleted"
	// SkipShared: a shared namespace, which no tier matches.
	SkipShared = "shared namespace"
	// SkipConflict prefixes the reason of a held conflicting namespace; the
	// conflict's message follows.
	SkipConflict = "in conflict; left as it is"
	// SkipBlocked: a namespace a tier matches while the profile is blocked
	// by TierLabelKeyInUse.
	SkipBlocked = "the profile governs nothing: its tierLabelKey is in use"
)

// maxTierListBytes bounds the list of tier names in a conflict message, so
// the message fits status.conflicts[].message (1,024 bytes) with 32 tiers
// of 63 characters.
const maxTierListBytes = 512

// Compute returns the plan for in.Profile. It fails only when a selector
// cannot be parsed, which admission validation prevents.
func Compute(in Input) (*Plan, error) {
	p := Effective(in.Profile, in.Namespaces)
	plan := &Plan{Profile: p.Name, ProfileUID: p.UID, TierLabelKey: TierLabelKey(p)}

	older := olderProfiles(p, in.OtherProfiles)
	if owner := tierLabelKeyOwner(p, older); owner != "" {
		plan.Blocked = true
		plan.Conflicts = append(plan.Conflicts, Conflict{
			Reason:  segv1.ConflictTierLabelKeyInUse,
			Message: fmt.Sprintf("tierLabelKey %s is used by the older profile %s; this profile governs nothing", plan.TierLabelKey, owner),
		})
		tiers, err := newTierMatchers(p)
		if err != nil {
			return nil, err
		}
		for _, ns := range in.Namespaces {
			if ns.Labels[ProfileLabel] == p.Name {
				plan.Held = append(plan.Held, ns.Name)
			}
			// Listed so that a preview names every namespace the profile would
			// have governed and now leaves alone.
			if len(tiers.match(ns)) > 0 {
				plan.Skipped = append(plan.Skipped, Skipped{Namespace: ns.Name, Reason: SkipBlocked})
			}
		}
		slices.Sort(plan.Held)
		slices.SortFunc(plan.Skipped, func(a, b Skipped) int { return strings.Compare(a.Namespace, b.Namespace) })
		return plan, nil
	}

	tiers, err := newTierMatchers(p)
	if err != nil {
		return nil, err
	}
	shared, err := newNamespaceMatcher(p.Spec.SharedNamespaces)
	if err != nil {
		return nil, fmt.Errorf("sharedNamespaces: %w", err)
	}
	claims, err := newClaimers(older, in.Namespaces)
	if err != nil {
		return nil, err
	}
	policies := newPolicyRenderer(p)
	excluded := map[string]bool{}
	for _, n := range p.Spec.ExcludedNamespaces {
		excluded[string(n)] = true
	}

	retain := LeavePolicy(p) == segv1.LeavePolicyRetain
	for _, ns := range in.Namespaces {
		matched := tiers.match(ns)
		isShared := shared.matches(ns)
		if len(matched) == 0 && !isShared {
			if retain && plan.left(ns) && skipReason(ns, in.OperatorNamespace, excluded) == "" {
				plan.Retained = append(plan.Retained, ns.Name)
				plan.Held = append(plan.Held, ns.Name)
			}
			continue
		}
		if reason := skipReason(ns, in.OperatorNamespace, excluded); reason != "" {
			plan.Skipped = append(plan.Skipped, Skipped{Namespace: ns.Name, Reason: reason})
			if ns.Terminating {
				plan.Held = append(plan.Held, ns.Name)
			}
			continue
		}
		if isShared {
			plan.Shared = append(plan.Shared, ns.Name)
			if len(matched) == 0 {
				// Reported so that a preview shows why the namespace gets no policy.
				plan.Skipped = append(plan.Skipped, Skipped{Namespace: ns.Name, Reason: SkipShared})
				continue
			}
			plan.hold(ns.Name, segv1.ConflictSharedAndTier,
				fmt.Sprintf("shared namespace matched by tier %s; treated as shared only", BoundList(matched, ", ", maxTierListBytes)))
			continue
		}
		if owner := claims.claimedBy(ns); owner != "" {
			plan.hold(ns.Name, segv1.ConflictClaimedByProfile, fmt.Sprintf("governed by the older profile %s", owner))
			continue
		}
		tier := matched[0]
		if len(matched) > 1 {
			msg := fmt.Sprintf("matched by tiers %s", BoundList(matched, " and ", maxTierListBytes))
			current := ns.Labels[plan.TierLabelKey]
			if !slices.Contains(matched, current) {
				plan.hold(ns.Name, segv1.ConflictMultipleTiers, msg+"; left ungoverned")
				continue
			}
			plan.Conflicts = append(plan.Conflicts, Conflict{Namespace: ns.Name, Reason: segv1.ConflictMultipleTiers,
				Message: fmt.Sprintf("%s; stays in tier %s", msg, current)})
			tier = current
		}
		plan.Governed = append(plan.Governed, policies.governed(ns.Name, tier))
	}

	slices.SortFunc(plan.Governed, func(a, b GovernedNamespace) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(plan.Held)
	slices.Sort(plan.Retained)
	slices.Sort(plan.Shared)
	slices.SortFunc(plan.Conflicts, func(a, b Conflict) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(string(a.Reason), string(b.Reason)))
	})
	slices.SortFunc(plan.Skipped, func(a, b Skipped) int { return strings.Compare(a.Namespace, b.Namespace) })
	plan.index = make(map[string]int, len(plan.Governed))
	for i := range plan.Governed {
		plan.index[plan.Governed[i].Name] = i
	}
	return plan, nil
}

// left reports whether a namespace that no tier matches was this profile's:
// it still carries the profile's label and a tier label, so Tierguard
// enforced it and it has just left every tier.
func (p *Plan) left(ns Namespace) bool {
	return ns.Labels[ProfileLabel] == p.Profile && ns.Labels[p.TierLabelKey] != ""
}

// hold records a conflict that leaves the namespace as it is.
func (p *Plan) hold(namespace string, reason segv1.ConflictReason, message string) {
	p.Conflicts = append(p.Conflicts, Conflict{Namespace: namespace, Reason: reason, Message: message})
	p.Held = append(p.Held, namespace)
	p.Skipped = append(p.Skipped, Skipped{Namespace: namespace, Reason: SkipConflict + ": " + message})
}

func skipReason(ns Namespace, operatorNamespace string, excluded map[string]bool) string {
	switch {
	case slices.Contains(AlwaysExcluded, ns.Name):
		return SkipAlwaysExcluded
	case operatorNamespace != "" && ns.Name == operatorNamespace:
		return SkipOperatorNamespace
	case excluded[ns.Name]:
		return SkipExcluded
	case ns.Terminating:
		return SkipTerminating
	}
	return ""
}

// tierMatchers match namespaces against the tiers of a profile.
type tierMatchers struct {
	names    []string
	matchers []namespaceMatcher
}

func newTierMatchers(p *segv1.SegmentationProfile) (tierMatchers, error) {
	var t tierMatchers
	for i := range p.Spec.Tiers {
		m, err := newNamespaceMatcher(&p.Spec.Tiers[i].Namespaces)
		if err != nil {
			return t, fmt.Errorf("tier %s: %w", p.Spec.Tiers[i].Name, err)
		}
		t.names = append(t.names, string(p.Spec.Tiers[i].Name))
		t.matchers = append(t.matchers, m)
	}
	return t, nil
}

// match returns the names of the tiers that match ns, in the profile's order.
func (t tierMatchers) match(ns Namespace) []string {
	var out []string
	for i, m := range t.matchers {
		if m.matches(ns) {
			out = append(out, t.names[i])
		}
	}
	return out
}

// claimer is an older profile that governs the namespaces its tiers match.
type claimer struct {
	name     string
	tiers    tierMatchers
	excluded map[string]bool
	shared   namespaceMatcher
}

type claimers []claimer

func newClaimers(older []segv1.SegmentationProfile, namespaces []Namespace) (claimers, error) {
	var out claimers
	for i := range older {
		o := &older[i]
		if tierLabelKeyOwner(o, olderProfiles(o, older)) != "" {
			continue // blocked itself: it governs nothing
		}
		o = Effective(o, namespaces)
		tiers, err := newTierMatchers(o)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", o.Name, err)
		}
		shared, err := newNamespaceMatcher(o.Spec.SharedNamespaces)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", o.Name, err)
		}
		c := claimer{name: o.Name, tiers: tiers, excluded: map[string]bool{}, shared: shared}
		for _, n := range o.Spec.ExcludedNamespaces {
			c.excluded[string(n)] = true
		}
		out = append(out, c)
	}
	return out, nil
}

// claimedBy returns the oldest profile that claims ns, or "".
func (cs claimers) claimedBy(ns Namespace) string {
	for _, c := range cs {
		if c.excluded[ns.Name] || c.shared.matches(ns) {
			continue
		}
		if len(c.tiers.match(ns)) > 0 {
			return c.name
		}
	}
	return ""
}

// olderProfiles returns the profiles created before p (creation time, then
// name), oldest first, ignoring p itself and profiles being deleted.
func olderProfiles(p *segv1.SegmentationProfile, all []segv1.SegmentationProfile) []segv1.SegmentationProfile {
	var out []segv1.SegmentationProfile
	for _, o := range all {
		if o.Name == p.Name || o.DeletionTimestamp != nil {
			continue
		}
		if profileAge(&o, p) < 0 {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b segv1.SegmentationProfile) int { return profileAge(&a, &b) })
	return out
}

// profileAge orders profiles oldest first: creation time, then name.
func profileAge(a, b *segv1.SegmentationProfile) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// tierLabelKeyOwner returns the oldest of older that uses p's tierLabelKey.
func tierLabelKeyOwner(p *segv1.SegmentationProfile, older []segv1.SegmentationProfile) string {
	key := TierLabelKey(p)
	for i := range older {
		if TierLabelKey(&older[i]) == key {
			return older[i].Name
		}
	}
	return ""
}

// Concerns reports whether a namespace with these name and labels can
// change p's plan: one of p's tiers or its shared set matches it (canary
// namespaces included), or it carries p's profile or canary label (p
// governed, held or retained it). A namespace event matters to a profile
// only when its old or its new state concerns it, so events are routed to
// those profiles alone instead of every profile.
func Concerns(p *segv1.SegmentationProfile, name string, nsLabels map[string]string) bool {
	if nsLabels[ProfileLabel] == p.Name || nsLabels[CanaryLabel] == p.Name {
		return true
	}
	ns := Namespace{Name: name, Labels: nsLabels}
	if shared, err := newNamespaceMatcher(p.Spec.SharedNamespaces); err != nil || shared.matches(ns) {
		return true // a selector that does not parse: let the pass report it
	}
	tiers, err := newTierMatchers(p)
	return err != nil || len(tiers.match(ns)) > 0
}
