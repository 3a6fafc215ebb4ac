package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/metrics"
)

// Messages are never format strings: an API error quoted in one may hold a
// '%'.

// announceTransitions emits events when the status flips, never per pass:
// Enforced on reaching the plan, Conflict when conflicts appear or change,
// and a warning when Ready turns False for a new reason.
func (r *ProfileReconciler) announceTransitions(profile *segv1.SegmentationProfile, prev, next segv1.SegmentationProfileStatus) {
	ready := meta.FindStatusCondition(next.Conditions, segv1.ConditionReady)
	prevReady := meta.FindStatusCondition(prev.Conditions, segv1.ConditionReady)
	if ready != nil && (prevReady == nil || prevReady.Reason != ready.Reason || prevReady.Status != ready.Status) {
		switch {
		case ready.Status == metav1.ConditionTrue && ready.Reason == segv1.ReasonEnforced:
			r.Recorder.Eventf(profile, nil, corev1.EventTypeNormal, segv1.ReasonEnforced, "Enforce", "%s", ready.Message)
		case ready.Status == metav1.ConditionFalse && ready.Reason != segv1.ReasonConflict:
			// ApplyFailed, PolicyRefused, ReadFailed, PlanFailed (conflicts
			// have their own event below).
			r.Recorder.Eventf(profile, nil, corev1.EventTypeWarning, ready.Reason, "Enforce", "%s", ready.Message)
		}
	}
	iso := meta.FindStatusCondition(next.Conditions, segv1.ConditionIsolationVerified)
	prevIso := meta.FindStatusCondition(prev.Conditions, segv1.ConditionIsolationVerified)
	if iso != nil && iso.Status == metav1.ConditionFalse &&
		(prevIso == nil || prevIso.Status != metav1.ConditionFalse || prevIso.Message != iso.Message) {
		r.Recorder.Eventf(profile, nil, corev1.EventTypeWarning, segv1.ReasonLeaksFound, "Verify", "%s", iso.Message)
	}
	enf := meta.FindStatusCondition(next.Conditions, segv1.ConditionEnforcementVerified)
	prevEnf := meta.FindStatusCondition(prev.Conditions, segv1.ConditionEnforcementVerified)
	if enf != nil && enf.Reason != segv1.ReasonCanaryPending && (prevEnf == nil || prevEnf.Reason != enf.Reason) {
		kind := corev1.EventTypeWarning
		if enf.Status == metav1.ConditionTrue {
			kind = corev1.EventTypeNormal
		}
		r.Recorder.Eventf(profile, nil, kind, enf.Reason, "Canary", "%s", enf.Message)
	}
	conflict := meta.FindStatusCondition(next.Conditions, segv1.ConditionConflict)
	prevConflict := meta.FindStatusCondition(prev.Conditions, segv1.ConditionConflict)
	if conflict != nil && conflict.Status == metav1.ConditionTrue &&
		(prevConflict == nil || prevConflict.Status != metav1.ConditionTrue || prevConflict.Message != conflict.Message) {
		r.Recorder.Eventf(profile, nil, corev1.EventTypeWarning, segv1.ReasonConflict, "Plan", "%s", conflict.Message)
	}
}

// report updates metrics and emits events for the pass's repairs. The
// leak gauge keeps the last verified figure while isolation is unknown,
// and the series of tiers renamed or removed are deleted.
func (r *ProfileReconciler) report(profile *segv1.SegmentationProfile, mem *memory.Profile, o outcome) {
	for _, rec := range o.writes.repairs {
		metrics.DriftRepairs.WithLabelValues(profile.Name, string(rec.Kind), string(rec.Change)).Inc()
		r.Recorder.Eventf(profile, nil, corev1.EventTypeWarning, "DriftRepaired", "Repair", "Repaired %s", repairSummary(rec))
	}
	r.announceMembership(profile, o.membership)
	if n := o.writes.count(writeFailed); n > 0 {
		metrics.ApplyErrors.WithLabelValues(profile.Name).Add(float64(n))
	}
	counts := o.plan.TierCounts(profile)
	tiers := make([]string, 0, len(counts))
	for _, t := range counts {
		metrics.GovernedNamespaces.WithLabelValues(profile.Name, t.Name).Set(float64(t.Namespaces))
		tiers = append(tiers, t.Name)
	}
	for _, gone := range mem.ReportTiers(tiers) {
		metrics.GovernedNamespaces.DeleteLabelValues(profile.Name, gone)
	}
	metrics.Conflicts.WithLabelValues(profile.Name).Set(float64(len(o.plan.Conflicts)))
	if o.isolation.known {
		metrics.IsolationLeaks.WithLabelValues(profile.Name).Set(float64(len(o.isolation.leaks)))
	}
}

// conditionTypes are the condition types tierguard_profile_condition shows.
var conditionTypes = []string{
	segv1.ConditionReady, segv1.ConditionDrifted, segv1.ConditionConflict,
	segv1.ConditionIsolationVerified, segv1.ConditionReconciling, segv1.ConditionStalled,
}

// reportConditions shows the status the profile has in the API server, just
// written or found unchanged, in tierguard_profile_condition. A pass whose
// status write failed leaves the series as they were, as it leaves the
// status.
func reportConditions(profile *segv1.SegmentationProfile) {
	metrics.ReportConditions(profile.Name, conditionTypes, profile.Status.Conditions)
}
