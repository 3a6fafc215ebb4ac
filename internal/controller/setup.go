package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// CacheOptions are the manager's cache options: managedFields stripped,
// NetworkPolicies limited to those Tierguard manages. Namespaces are watched
// as metadata only (see SetupWithManager).
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&networkingv1.NetworkPolicy{}: {
				Label: labels.SelectorFromSet(labels.Set{render.ManagedByLabel: render.ManagedByValue}),
			},
		},
	}
}

// SetupWithManager registers the controller. Events for one profile
// coalesce in the work queue into one reconcile.
func (r *ProfileReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrentReconciles int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("segmentationprofile").
		For(&segv1.SegmentationProfile{}, builder.WithPredicates(specOrLifecycleChanged())).
		// Another profile's creation, change or deletion can move namespaces
		// (ClaimedByProfile, TierLabelKeyInUse).
		Watches(&segv1.SegmentationProfile{}, handler.EnqueueRequestsFromMapFunc(r.allProfiles),
			builder.WithPredicates(specOrLifecycleChanged())).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.allProfiles),
			builder.WithPredicates(namespaceChanged())).
		Watches(&networkingv1.NetworkPolicy{}, handler.EnqueueRequestsFromMapFunc(r.policyOwner)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: maxConcurrentReconciles,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				100*time.Millisecond, 30*time.Second),
		}).
		Complete(r)
}

// allProfiles maps an event to every profile.
func (r *ProfileReconciler) allProfiles(ctx context.Context, _ client.Object) []reconcile.Request {
	profiles := &segv1.SegmentationProfileList{}
	if err := r.Client.List(ctx, profiles, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(profiles.Items))
	for _, p := range profiles.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: p.Name}})
	}
	return reqs
}

// policyOwner maps a managed policy to its profile; a policy whose labels
// were stripped (it leaves the filtered cache) maps to every profile.
func (r *ProfileReconciler) policyOwner(ctx context.Context, obj client.Object) []reconcile.Request {
	if p := obj.GetLabels()[render.ProfileLabel]; p != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: p}}}
	}
	return r.allProfiles(ctx, obj)
}

// specOrLifecycleChanged ignores status-only updates, so Tierguard's own
// status writes do not trigger another pass.
func specOrLifecycleChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
			!slices.Equal(o.GetFinalizers(), n.GetFinalizers()) ||
			!maps.Equal(o.GetAnnotations(), n.GetAnnotations())
	}}
}

// namespaceChanged passes namespace updates that can change a plan: labels
// and deletion.
func namespaceChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return !maps.Equal(o.GetLabels(), n.GetLabels()) || !o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
	}}
}
