package controller

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/render"
)

// finalize runs while a profile is being deleted. With deletionPolicy Delete
// it removes the managed policies and Tierguard's namespace labels, then the
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
		return r.removeFinalizer(ctx, profile)
	}
	actions, err := r.cleanupActions(ctx, profile)
	if err != nil {
		return err
	}
	res := r.write(ctx, profile, actions, metav1.NewTime(r.now()))
	if len(res.failed) > 0 {
		errs := make([]error, 0, len(res.failed))
		for _, err := range res.failed {
			errs = append(errs, err)
		}
		r.Recorder.Eventf(profile, nil, "Warning", segv1.ReasonApplyFailed, "Cleanup",
			"Cleanup of profile %s failed, retrying: %v", profile.Name, errors.Join(errs...))
		return fmt.Errorf("clean up profile %s: %w", profile.Name, errors.Join(errs...))
	}
	if len(res.stale) > 0 {
		// Objects changed since the cache showed them (another profile may
		// have taken a namespace over): look again before letting go.
		return fmt.Errorf("clean up profile %s: %d object(s) changed since observed, retrying", profile.Name, len(res.stale))
	}
	return r.removeFinalizer(ctx, profile)
}

func (r *ProfileReconciler) removeFinalizer(ctx context.Context, profile *segv1.SegmentationProfile) error {
	before := profile.DeepCopy()
	controllerutil.RemoveFinalizer(profile, Finalizer)
	if err := r.Client.Patch(ctx, profile, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("remove finalizer of profile %s: %w", profile.Name, err)
	}
	return nil
}

// cleanupActions returns the deletes and label releases that remove
// everything the profile wrote.
func (r *ProfileReconciler) cleanupActions(ctx context.Context, profile *segv1.SegmentationProfile) ([]diff.Action, error) {
	state, err := r.observe(ctx, profile)
	if err != nil {
		return nil, err
	}
	empty := &render.Plan{Profile: profile.Name, TierLabelKey: render.TierLabelKey(profile)}
	return diff.Compute(empty, state.observed), nil
}
