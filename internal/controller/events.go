package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// announceTransitions emits events when the status flips, never per pass:
// Enforced on reaching the plan, Conflict when conflicts appear or change,
// ApplyFailed when writes start failing.
func (r *ProfileReconciler) announceTransitions(profile *segv1.SegmentationProfile, next segv1.SegmentationProfileStatus) {
	prev := profile.Status
	ready := meta.FindStatusCondition(next.Conditions, segv1.ConditionReady)
	prevReady := meta.FindStatusCondition(prev.Conditions, segv1.ConditionReady)
	if ready != nil && (prevReady == nil || prevReady.Reason != ready.Reason || prevReady.Status != ready.Status) {
		switch {
		case ready.Status == metav1.ConditionTrue && ready.Reason == segv1.ReasonEnforced:
			r.Recorder.Eventf(profile, nil, "Normal", segv1.ReasonEnforced, "Enforce", ready.Message)
		case ready.Reason == segv1.ReasonApplyFailed:
			r.Recorder.Eventf(profile, nil, "Warning", segv1.ReasonApplyFailed, "Enforce", ready.Message)
		case ready.Reason == segv1.ReasonPolicyRefused:
			r.Recorder.Eventf(profile, nil, "Warning", segv1.ReasonPolicyRefused, "Enforce", ready.Message)
		}
	}
	iso := meta.FindStatusCondition(next.Conditions, segv1.ConditionIsolationVerified)
	prevIso := meta.FindStatusCondition(prev.Conditions, segv1.ConditionIsolationVerified)
	if iso != nil && iso.Status == metav1.ConditionFalse &&
		(prevIso == nil || prevIso.Status != metav1.ConditionFalse || prevIso.Message != iso.Message) {
		r.Recorder.Eventf(profile, nil, "Warning", segv1.ReasonLeaksFound, "Verify", iso.Message)
	}
	conflict := meta.FindStatusCondition(next.Conditions, segv1.ConditionConflict)
	prevConflict := meta.FindStatusCondition(prev.Conditions, segv1.ConditionConflict)
	if conflict != nil && conflict.Status == metav1.ConditionTrue &&
		(prevConflict == nil || prevConflict.Status != metav1.ConditionTrue || prevConflict.Message != conflict.Message) {
		r.Recorder.Eventf(profile, nil, "Warning", segv1.ReasonConflict, "Plan", conflict.Message)
	}
}
