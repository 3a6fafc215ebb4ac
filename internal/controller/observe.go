package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// observation is what the cache holds for one profile's pass.
type observation struct {
	input    render.Input
	observed diff.Observed
	// uids are the namespaces' UIDs, so applies never create a namespace
	// that was deleted meanwhile.
	uids map[string]types.UID
	// versions are the namespaces' resourceVersions: any change to one's
	// labels gives it a new version.
	versions map[string]string
	// ownPolicies counts the managed policies carrying the profile's label.
	ownPolicies int32
	// ownedByProfile counts those with an owner reference to the profile.
	ownedByProfile int
	// policies are the cached NetworkPolicies labelled as Tierguard's (do
	// not mutate: uncopied).
	policies []networkingv1.NetworkPolicy
	// cnp are the ClusterNetworkPolicies.
	cnp clusterPolicies
}

// observe reads namespaces (metadata only), the other profiles and the
// managed policies from the cache. What it returns shares the cache's
// objects: read it, never change it.
func (r *ProfileReconciler) observe(ctx context.Context, profile *segv1.SegmentationProfile, mem *memory.Profile) (observation, error) {
	obs := observation{
		input:    render.Input{Profile: profile, OperatorNamespace: r.OperatorNamespace},
		observed: diff.Observed{NamespaceLabels: map[string]map[string]string{}, Policies: map[string]*networkingv1.NetworkPolicy{}},
		uids:     map[string]types.UID{},
		versions: map[string]string{},
	}
	obs.observed.NamespaceVersions = obs.versions
	namespaces, err := r.listNamespaces(ctx)
	if err != nil {
		return obs, err
	}
	obs.input.Namespaces = make([]render.Namespace, 0, len(namespaces.Items))
	for i := range namespaces.Items {
		ns := &namespaces.Items[i]
		obs.input.Namespaces = append(obs.input.Namespaces, render.Namespace{
			Name: ns.Name, Labels: ns.Labels, Terminating: !ns.DeletionTimestamp.IsZero(),
		})
		obs.observed.NamespaceLabels[ns.Name] = ns.Labels
		obs.uids[ns.Name] = ns.UID
		obs.versions[ns.Name] = ns.ResourceVersion
	}

	profiles := &segv1.SegmentationProfileList{}
	if err := r.Client.List(ctx, profiles); err != nil {
		return obs, fmt.Errorf("list profiles: %w", err)
	}
	obs.input.OtherProfiles = profiles.Items

	policies := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, policies, client.UnsafeDisableDeepCopy); err != nil {
		return obs, fmt.Errorf("list network policies: %w", err)
	}
	obs.policies = policies.Items
	for i := range policies.Items {
		pol := &policies.Items[i]
		if !render.IsManagedPolicy(pol) {
			continue
		}
		obs.observed.Policies[pol.Namespace] = pol
		if pol.Labels[render.ProfileLabel] == profile.Name {
			obs.ownPolicies++
			if ownedByProfile(pol, profile) {
				obs.ownedByProfile++
			}
		}
	}
	mem.SeenPolicies(profile.Name, obs.observed.Policies)
	obs.observed.Seen = mem.Seen
	obs.observed.PolicyMatches = mem.PolicyMatches
	obs.observed.LabelsEnforced = mem.LabelsEnforced
	return obs, nil
}

func (r *ProfileReconciler) listNamespaces(ctx context.Context) (*metav1.PartialObjectMetadataList, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return list, nil
}

// namespaceMetadata is an empty namespace read as metadata only, as the
// cache watches namespaces.
func namespaceMetadata() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}
