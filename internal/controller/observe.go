package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	// not mutate: the cache's own objects).
	policies []*networkingv1.NetworkPolicy
	// cnp are the ClusterNetworkPolicies.
	cnp clusterPolicies
}

// observe reads namespaces (metadata only), the other profiles and the
// managed policies from the cache. What it returns shares the cache's
// objects: read it, never change it.
func (r *ProfileReconciler) observe(ctx context.Context, profile *segv1.SegmentationProfile, mem *memory.Profile) (observation, error) {
	obs := observation{input: render.Input{Profile: profile, OperatorNamespace: r.OperatorNamespace}}
	namespaces, err := r.namespaceObjects(ctx)
	if err != nil {
		return obs, err
	}
	obs.input.Namespaces = make([]render.Namespace, 0, len(namespaces))
	obs.observed.NamespaceLabels = make(map[string]map[string]string, len(namespaces))
	obs.uids = make(map[string]types.UID, len(namespaces))
	obs.versions = make(map[string]string, len(namespaces))
	obs.observed.NamespaceVersions = obs.versions
	for _, ns := range namespaces {
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

	policies, err := r.managedPolicies(ctx)
	if err != nil {
		return obs, err
	}
	obs.policies = policies
	obs.observed.Policies = make(map[string]*networkingv1.NetworkPolicy, len(policies))
	for _, pol := range policies {
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

// namespaceObjects returns every namespace in the cache, sorted by name:
// the informer's own objects (read them, never change them), without the
// copy a List makes of each, and sorted in linear time while the set of
// names is the last pass's. A client without an informer cache is listed.
func (r *ProfileReconciler) namespaceObjects(ctx context.Context) ([]*metav1.PartialObjectMetadata, error) {
	var out []*metav1.PartialObjectMetadata
	if items, ok := r.storeItems(ctx, namespaceMetadata()); ok {
		out = make([]*metav1.PartialObjectMetadata, 0, len(items))
		for _, it := range items {
			if ns, ok := it.(*metav1.PartialObjectMetadata); ok {
				out = append(out, ns)
			}
		}
	} else {
		list, err := r.listNamespaces(ctx)
		if err != nil {
			return nil, err
		}
		out = make([]*metav1.PartialObjectMetadata, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
	}
	r.namespaceOrder.sort(out)
	return out, nil
}

// managedPolicies returns the cached NetworkPolicies (the cache holds only
// those labelled as Tierguard's), the informer's own objects where it can.
func (r *ProfileReconciler) managedPolicies(ctx context.Context) ([]*networkingv1.NetworkPolicy, error) {
	if items, ok := r.storeItems(ctx, &networkingv1.NetworkPolicy{}); ok {
		out := make([]*networkingv1.NetworkPolicy, 0, len(items))
		for _, it := range items {
			if p, ok := it.(*networkingv1.NetworkPolicy); ok {
				out = append(out, p)
			}
		}
		return out, nil
	}
	list := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list network policies: %w", err)
	}
	out := make([]*networkingv1.NetworkPolicy, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// storeItems returns the objects of obj's kind in the informer's store, when
// the reconciler reads from a synced informer cache.
func (r *ProfileReconciler) storeItems(ctx context.Context, obj client.Object) ([]any, bool) {
	if r.cache == nil {
		return nil, false
	}
	inf, err := r.cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, false
	}
	s, ok := inf.(interface {
		GetStore() toolscache.Store
		HasSynced() bool
	})
	if !ok || !s.HasSynced() {
		return nil, false
	}
	return s.GetStore().List(), true
}

// nameOrder sorts namespaces by name, in linear time while their names are
// those it last sorted (the common pass: labels or policies changed, not
// the set of namespaces).
type nameOrder struct {
	mu   sync.Mutex
	rank map[string]int
}

func (o *nameOrder) sort(items []*metav1.PartialObjectMetadata) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.rank) == len(items) {
		placed := make([]*metav1.PartialObjectMetadata, len(items))
		same := true
		for _, it := range items {
			i, ok := o.rank[it.Name]
			if !ok || placed[i] != nil {
				same = false
				break
			}
			placed[i] = it
		}
		if same {
			copy(items, placed)
			return
		}
	}
	slices.SortFunc(items, func(a, b *metav1.PartialObjectMetadata) int { return strings.Compare(a.Name, b.Name) })
	o.rank = make(map[string]int, len(items))
	for i, it := range items {
		o.rank[it.Name] = i
	}
}

// namespaceMetadata is an empty namespace read as metadata only, as the
// cache watches namespaces.
func namespaceMetadata() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}
