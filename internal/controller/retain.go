package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/render"
)

// Under deletionPolicy Retain no policy may carry an owner reference to the
// profile, whatever the mode: the garbage collector would delete it with
// the profile. The finalizer stays until the API server shows none.

// ownedByProfile reports whether a policy carries an owner reference to the
// profile.
func ownedByProfile(pol client.Object, profile *segv1.SegmentationProfile) bool {
	return slices.ContainsFunc(pol.GetOwnerReferences(), func(ref metav1.OwnerReference) bool { return ref.UID == profile.UID })
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
	objs := make([]client.Object, 0, len(list.Items))
	for i := range list.Items {
		objs = append(objs, &list.Items[i])
	}
	left, err := r.releaseOwners(ctx, profile, segv1.KindNetworkPolicy, objs)
	if err != nil {
		return 0, err
	}
	gv, err := r.cnpVersion()
	switch {
	case errors.Is(err, cnpapi.ErrNotServed):
		return left, nil
	case err != nil:
		return 0, err
	}
	cnps := cnpapi.NewList(gv)
	if err := r.APIReader.List(ctx, cnps, client.MatchingLabels{render.ProfileLabel: profile.Name}); err != nil {
		if isNotServed(err) {
			return left, nil
		}
		return 0, fmt.Errorf("list cluster network policies of profile %s: %w", profile.Name, err)
	}
	items, err := meta.ExtractList(cnps)
	if err != nil {
		return 0, err
	}
	objs = objs[:0]
	for _, o := range items {
		objs = append(objs, o.(client.Object))
	}
	more, err := r.releaseOwners(ctx, profile, segv1.KindClusterNetworkPolicy, objs)
	return left + more, err
}

// releaseOwners removes the profile's owner reference from each policy
// carrying one, guarded by its resourceVersion; it returns how many still
// carry one.
func (r *ProfileReconciler) releaseOwners(ctx context.Context, profile *segv1.SegmentationProfile, kind segv1.ObjectKind, objs []client.Object) (int, error) {
	left := 0
	for _, pol := range objs {
		idx := slices.IndexFunc(pol.GetOwnerReferences(), func(ref metav1.OwnerReference) bool { return ref.UID == profile.UID })
		if idx < 0 {
			continue
		}
		patched, err := r.patchAtVersion(ctx, pol, kind, []map[string]any{
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
