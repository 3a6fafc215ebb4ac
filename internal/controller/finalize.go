package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/render"
)

// finalize runs while a profile is being deleted. With deletionPolicy Delete
// it removes the managed policies (NetworkPolicies and
// ClusterNetworkPolicies) and Tierguard's namespace labels, then the
// finalizer, in either mode. With Retain it leaves everything as it is and
// only drops the policies' owner references, in either mode, so the garbage
// collector keeps them; the finalizer goes once none is left. Errors are
// reported and retried; objects already gone count as done.
func (r *ProfileReconciler) finalize(ctx context.Context, profile *segv1.SegmentationProfile) error {
	if !controllerutil.ContainsFinalizer(profile, Finalizer) {
		return nil
	}
	if render.DeletionPolicy(profile) == segv1.DeletionPolicyRetain {
		left, err := r.releaseOwnership(ctx, profile)
		if err != nil {
			return err
		}
		if left > 0 {
			return fmt.Errorf("retain policies of profile %s: %d owner reference(s) changed meanwhile, retrying", profile.Name, left)
		}
		return r.setFinalizer(ctx, profile, false)
	}
	// The cleanup's actions: the deletes and label releases that remove
	// everything the profile wrote.
	mem := r.memory.Profile(profile.Name)
	state, err := r.observe(ctx, profile, mem)
	if err != nil {
		return err
	}
	if state.cnp, err = r.observeClusterPolicies(ctx, profile); err != nil {
		return err
	}
	empty := &render.Plan{Profile: profile.Name, TierLabelKey: render.TierLabelKey(profile)}
	_, deletes := diff.ClusterPolicies(nil, state.cnp.own, nil)
	res := r.write(ctx, mem, &state, append(diff.Compute(empty, state.observed), deletes...), metav1.NewTime(time.Now()))
	if len(res.errs) > 0 {
		errs := make([]error, 0, len(res.errs))
		for _, err := range res.errs {
			errs = append(errs, err)
		}
		err := fmt.Errorf("clean up profile %s: %w", profile.Name, errors.Join(errs...))
		r.Recorder.Eventf(profile, nil, corev1.EventTypeWarning, segv1.ReasonApplyFailed, "Cleanup", "%s, retrying", err.Error())
		return err
	}
	if n := res.count(writeStale); n > 0 {
		// Objects changed since the cache showed them (another profile may
		// have taken a namespace over): look again before letting go.
		return fmt.Errorf("clean up profile %s: %d object(s) changed since observed, retrying", profile.Name, n)
	}
	return r.setFinalizer(ctx, profile, false)
}
