package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// CacheOptions are the manager's cache options: managedFields stripped
// everywhere, and from NetworkPolicies also the last-applied annotation
// kubectl keeps (a copy of the object). The cache holds only the
// NetworkPolicies labelled as Tierguard's; the others are kept, apart, only
// in governed namespaces (see foreignPolicies). Namespaces are watched as
// metadata only (see SetupWithManager), with their label strings interned,
// and a tier's managed policies share their spec and metadata (see
// interner).
func CacheOptions() cache.Options {
	in := newInterner()
	return cache.Options{
		DefaultTransform: func(obj any) (any, error) {
			if a, ok := obj.(metav1.Object); ok {
				a.SetManagedFields(nil)
				a.SetLabels(internLabels(a.GetLabels()))
			}
			return obj, nil
		},
		ByObject: map[client.Object]cache.ByObject{
			&networkingv1.NetworkPolicy{}: {
				Label: labels.SelectorFromSet(labels.Set{render.ManagedByLabel: render.ManagedByValue}),
				Transform: func(obj any) (any, error) {
					stripPolicy(obj)
					if p, ok := obj.(*networkingv1.NetworkPolicy); ok {
						in.policy(p)
					}
					return obj, nil
				},
			},
		},
	}
}

// stripPolicy drops what Tierguard never reads from a cached policy.
func stripPolicy(obj any) {
	if a, ok := obj.(metav1.Object); ok {
		a.SetManagedFields(nil)
		if ann := a.GetAnnotations(); ann[lastAppliedAnnotation] != "" {
			ann = maps.Clone(ann)
			delete(ann, lastAppliedAnnotation)
			a.SetAnnotations(ann)
		}
	}
}

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// SetupWithManager registers the controller. Events for one profile
// coalesce in the work queue into one reconcile.
func (r *ProfileReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrentReconciles int) error {
	changed := make(chan event.GenericEvent, 1024)
	r.foreign = newForeignPolicies(r.APIReader, func(profiles []string) {
		for _, p := range profiles {
			changed <- event.GenericEvent{Object: &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: p}}}
		}
	})
	if err := r.watchForeignPolicies(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("segmentationprofile").
		For(&segv1.SegmentationProfile{}, builder.WithPredicates(specOrLifecycleChanged())).
		// Another profile's creation, change or deletion can move namespaces
		// (ClaimedByProfile, TierLabelKeyInUse).
		Watches(&segv1.SegmentationProfile{}, handler.EnqueueRequestsFromMapFunc(r.allProfiles),
			builder.WithPredicates(specOrLifecycleChanged())).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.allProfiles),
			builder.WithPredicates(namespaceChanged(), r.echoes.notEcho(namespaceKind))).
		Watches(&networkingv1.NetworkPolicy{}, handler.EnqueueRequestsFromMapFunc(r.policyOwner),
			builder.WithPredicates(r.echoes.notEcho(policyKind))).
		// A foreign policy in a governed namespace can open a hole.
		WatchesRawSource(source.Channel(changed, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: maxConcurrentReconciles,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				100*time.Millisecond, 30*time.Second),
		}).
		Complete(r)
}

// watchForeignPolicies runs, on the leader, a reflector that feeds every
// NetworkPolicy not labelled as Tierguard's to r.foreign, which keeps those
// of governed namespaces.
func (r *ProfileReconciler) watchForeignPolicies(mgr ctrl.Manager) error {
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	c, err := networkingv1client.NewForConfigAndClient(cfg, mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("client for foreign network policies: %w", err)
	}
	policies, sel := c.NetworkPolicies(metav1.NamespaceAll), foreignSelector().String()
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return policies.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return policies.Watch(ctx, o)
		},
	}
	reflector := toolscache.NewReflectorWithOptions(lw, &networkingv1.NetworkPolicy{}, r.foreign,
		toolscache.ReflectorOptions{Name: "foreign-networkpolicies"})
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		reflector.RunWithContext(ctx)
		return nil
	}))
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

// policyOwner maps a policy labelled as Tierguard's to the profile on its
// label and to the profile that governs its namespace.
func (r *ProfileReconciler) policyOwner(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	if p := obj.GetLabels()[render.ProfileLabel]; p != "" {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: p}})
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.Client.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns, client.UnsafeDisableDeepCopy); err == nil {
		if p := ns.Labels[render.ProfileLabel]; p != "" && p != obj.GetLabels()[render.ProfileLabel] {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: p}})
		}
	}
	return reqs
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
