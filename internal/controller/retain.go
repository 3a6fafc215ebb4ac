package controller

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// Under deletionPolicy Retain no policy may carry an owner reference to the
// profile, whatever the mode: the garbage collector would delete it with
// the profile. The finalizer stays until the API server shows none.

// ownedByProfile reports whether a policy carries an owner reference to the
// profile.
func ownedByProfile(pol *networkingv1.NetworkPolicy, profile *segv1.SegmentationProfile) bool {
	return ownerIndex(pol, profile) >= 0
}

func ownerIndex(pol *networkingv1.NetworkPolicy, profile *segv1.SegmentationProfile) int {
	for i, ref := range pol.OwnerReferences {
		if ref.UID == profile.UID {
			return i
		}
	}
	return -1
}

// releaseOwnership removes the profile's owner reference from every policy
// the API server shows with one, reading live (the finalizer's removal
// depends on it) and patching each with a JSON patch guarded by its
// resourceVersion. It returns how many still carry one.
func (r *ProfileReconciler) releaseOwnership(ctx context.Context, profile *segv1.SegmentationProfile) (int, error) {
	list := &networkingv1.NetworkPolicyList{}
	if err := r.APIReader.List(ctx, list, client.MatchingLabels{render.ProfileLabel: profile.Name}); err != nil {
		return 0, fmt.Errorf("list policies of profile %s: %w", profile.Name, err)
	}
	left := 0
	for i := range list.Items {
		pol := &list.Items[i]
		idx := ownerIndex(pol, profile)
		if idx < 0 {
			continue
		}
		patched, err := r.patchAtVersion(ctx, pol, []map[string]any{
			{"op": "remove", "path": fmt.Sprintf("/metadata/ownerReferences/%d", idx)},
		})
		if err != nil {
			return 0, err
		}
		if !patched {
			left++ // changed (or gone) meanwhile: looked at again on the next pass
		}
	}
	return left, nil
}
