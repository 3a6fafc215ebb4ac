package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/metrics"
	"github.com/tierguard/tierguard/internal/render"
)

const (
	// maxMembershipEvents is the number of membership changes in one pass
	// announced one event each, with the field manager looked up; beyond
	// it (a profile's first pass over thousands of namespaces) one event
	// summarizes the pass.
	maxMembershipEvents = 10
	maxRetainedListed   = 20
	maxRecentMembership = 10
)

// membershipChanges returns the tier changes the pass made: namespaces
// whose labels it applied for another tier (joined or moved; repairs of
// drift are not membership changes), released (left) or newly retained.
func membershipChanges(profile *segv1.SegmentationProfile, plan *render.Plan, obs diff.Observed, actions []diff.Action,
	res writeResult, newlyRetained []string, now metav1.Time) []segv1.MembershipChange {
	key := plan.TierLabelKey
	previous := func(ns string) string {
		if labels := obs.NamespaceLabels[ns]; labels[render.ProfileLabel] == profile.Name {
			return labels[key]
		}
		return ""
	}
	var out []segv1.MembershipChange
	for i, a := range actions {
		// Only a write that changed the namespace moved it: one found as
		// planned was moved, and recorded, by an earlier pass the cache had
		// not shown yet.
		if res.states[i] != writeChanged || a.Drift != nil {
			continue
		}
		switch a.Type {
		case diff.ApplyLabels:
			g := plan.Lookup(a.Namespace)
			if g == nil {
				continue
			}
			from := previous(a.Namespace)
			if from == g.Tier {
				continue
			}
			c := segv1.MembershipChange{Time: now, Namespace: a.Namespace, From: from, To: g.Tier, Action: segv1.MembershipJoined}
			if from != "" {
				c.Action = segv1.MembershipMoved
			}
			out = append(out, c)
		case diff.ReleaseLabels:
			out = append(out, segv1.MembershipChange{Time: now, Namespace: a.Namespace, From: previous(a.Namespace), Action: segv1.MembershipLeft})
		}
	}
	for _, ns := range newlyRetained {
		out = append(out, segv1.MembershipChange{Time: now, Namespace: ns, From: obs.NamespaceLabels[ns][key], Action: segv1.MembershipRetained})
	}
	slices.SortFunc(out, func(a, b segv1.MembershipChange) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out
}

// attributeMembership names, for the first changes of a pass, the field
// manager that last set a label the profile's selectors read, from the
// namespace's managedFields (stripped from the cache, so read live).
func (r *ProfileReconciler) attributeMembership(ctx context.Context, profile *segv1.SegmentationProfile, changes []segv1.MembershipChange) {
	keys := selectorKeys(profile)
	for i := range changes {
		if i == maxMembershipEvents {
			return
		}
		ns := namespaceMetadata()
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: changes[i].Namespace}, ns); err != nil {
			continue
		}
		changes[i].Manager = drift.LabelWriter(FieldManager, ns.ManagedFields, keys)
	}
}

// selectorKeys are the label keys the profile's tier and shared selectors
// read.
func selectorKeys(p *segv1.SegmentationProfile) []string {
	var keys []string
	add := func(s *segv1.LabelSelector) {
		if s == nil {
			return
		}
		for k := range s.MatchLabels {
			keys = append(keys, k)
		}
		for _, e := range s.MatchExpressions {
			keys = append(keys, string(e.Key))
		}
	}
	for i := range p.Spec.Tiers {
		add(p.Spec.Tiers[i].Namespaces.Selector)
	}
	if p.Spec.SharedNamespaces != nil {
		add(p.Spec.SharedNamespaces.Selector)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// announceMembership records the pass's membership changes in metrics and
// events: one event per change naming the namespace, the tiers and who
// changed the labels, or one summary when the pass made many.
func (r *ProfileReconciler) announceMembership(profile *segv1.SegmentationProfile, changes []segv1.MembershipChange) {
	for _, c := range changes {
		metrics.MembershipChanges.WithLabelValues(profile.Name, string(c.Action)).Inc()
	}
	if len(changes) > maxMembershipEvents {
		items := make([]string, 0, maxMessageItems)
		for _, c := range changes[:maxMessageItems] {
			items = append(items, membershipSummary(c))
		}
		r.Recorder.Eventf(profile, nil, corev1.EventTypeNormal, segv1.ReasonMembershipChanged, "Assign",
			"%d namespaces changed tiers: %s; and %d more", len(changes), strings.Join(items, "; "), len(changes)-maxMessageItems)
		return
	}
	for _, c := range changes {
		r.Recorder.Eventf(profile, nil, corev1.EventTypeNormal, segv1.ReasonMembershipChanged, "Assign", "%s", membershipSummary(c))
	}
}

func membershipSummary(c segv1.MembershipChange) string {
	var what string
	switch c.Action {
	case segv1.MembershipJoined:
		what = fmt.Sprintf("Namespace %s joined tier %s", c.Namespace, c.To)
	case segv1.MembershipMoved:
		what = fmt.Sprintf("Namespace %s moved from tier %s to tier %s", c.Namespace, c.From, c.To)
	case segv1.MembershipLeft:
		what = fmt.Sprintf("Namespace %s left tier %s and was released", c.Namespace, c.From)
	case segv1.MembershipRetained:
		what = fmt.Sprintf("Namespace %s left tier %s and keeps its labels and policy (leavePolicy Retain)", c.Namespace, c.From)
	}
	if c.Manager != "" {
		what += " (selector labels last set by " + c.Manager + ")"
	}
	return what
}

// setMembership records the pass's changes and the retained namespaces.
func setMembership(st *segv1.SegmentationProfileStatus, o outcome) {
	st.Membership.RetainedCount = int32(len(o.plan.Retained))
	st.Membership.Retained = nil
	if len(o.plan.Retained) > 0 {
		st.Membership.Retained = slices.Clone(o.plan.Retained[:min(len(o.plan.Retained), maxRetainedListed)])
	}
	if len(o.membership) == 0 {
		return
	}
	st.Membership.Changes += int64(len(o.membership))
	recent := append(slices.Clone(o.membership[:min(len(o.membership), maxRecentMembership)]), st.Membership.Recent...)
	st.Membership.Recent = recent[:min(len(recent), maxRecentMembership)]
}
