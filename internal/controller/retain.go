package controller

import (
	"context"
	"encoding/json"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
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
		ops := []map[string]any{
			{"op": "test", "path": "/metadata/resourceVersion", "value": pol.ResourceVersion},
			{"op": "remove", "path": fmt.Sprintf("/metadata/ownerReferences/%d", idx)},
		}
		data, err := json.Marshal(ops)
		if err != nil {
			return 0, err
		}
		err = r.Client.Patch(ctx, pol, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(FieldManager))
		switch {
		case err == nil:
			r.echoes.wrote(policyKind, pol.Namespace, pol.Name, pol.ResourceVersion)
		case apierrors.IsNotFound(err):
		case apierrors.IsInvalid(err) || apierrors.IsConflict(err):
			left++ // changed meanwhile: looked at again on the next pass
		default:
			return 0, fmt.Errorf("remove owner reference of policy %s/%s: %w", pol.Namespace, pol.Name, err)
		}
	}
	return left, nil
}
