package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/internal/watchcache"
)

// SetupWithManager registers the controller. Events for one profile
// coalesce in the work queue into one reconcile.
func (r *ProfileReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrentReconciles int) error {
	changed := make(chan event.GenericEvent, 1024)
	r.foreign = watchcache.NewForeignPolicies(r.APIReader, func(profiles []string) {
		for _, p := range profiles {
			changed <- event.GenericEvent{Object: &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: p}}}
		}
	})
	if err := r.foreign.Start(mgr); err != nil {
		return err
	}
	if r.ClusterNetworkPolicies == nil {
		d, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
		if err != nil {
			return fmt.Errorf("discovery client: %w", err)
		}
		r.ClusterNetworkPolicies = &cnpapi.Detector{Discovery: d}
	}
	r.cache = mgr.GetCache()
	if r.Canary != nil {
		r.Canary.trigger = changed
		if err := mgr.Add(r.Canary); err != nil {
			return err
		}
	}
	ctl, err := ctrl.NewControllerManagedBy(mgr).
		Named("segmentationprofile").
		For(&segv1.SegmentationProfile{}, builder.WithPredicates(specOrLifecycleChanged(), r.fullPass())).
		// Another profile's creation, change or deletion can move namespaces
		// (ClaimedByProfile, TierLabelKeyInUse).
		Watches(&segv1.SegmentationProfile{}, handler.EnqueueRequestsFromMapFunc(r.full(r.allProfiles)),
			builder.WithPredicates(specOrLifecycleChanged())).
		// A namespace's old and new states are both read, so a profile
		// hears of a namespace that joins, leaves or changes within it.
		WatchesMetadata(&corev1.Namespace{}, r.namespaceEvents(),
			builder.WithPredicates(namespaceChanged(), r.echoes.Predicate(segv1.KindNamespace))).
		Watches(&networkingv1.NetworkPolicy{}, handler.EnqueueRequestsFromMapFunc(r.policyOwner),
			builder.WithPredicates(r.echoes.Predicate(segv1.KindNetworkPolicy))).
		// A foreign policy in a governed namespace can open a hole; the
		// canary's rounds end here too.
		WatchesRawSource(source.Channel(changed, handler.EnqueueRequestsFromMapFunc(r.full(selfRequest)))).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: maxConcurrentReconciles,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				100*time.Millisecond, 30*time.Second),
		}).
		// ClusterNetworkPolicies are watched once a pass finds them served
		// (watchClusterPolicies): the CRD may come after the manager.
		Build(r)
	if err != nil {
		return err
	}
	r.cnpWatchMu.Lock()
	r.ctl = ctl
	r.cnpWatchMu.Unlock()
	if r.Reports {
		// A report someone edited or deleted (a tenant may be allowed to
		// edit reports in their namespace) is rewritten at once, so no
		// hole stays hidden behind a forged pass.
		for _, obj := range []client.Object{&orv1.Report{}, &orv1.ClusterReport{}} {
			src := source.Kind(r.cache, obj, handler.EnqueueRequestsFromMapFunc(r.full(reportOwner)), r.echoes.Predicate(reportKind))
			if err := ctl.Watch(src); err != nil {
				return fmt.Errorf("watch reports: %w", err)
			}
		}
	}
	return nil
}

// reportOwner maps one of Tierguard's reports to its profile.
func reportOwner(_ context.Context, obj client.Object) []reconcile.Request {
	if p := obj.GetLabels()[render.ProfileLabel]; p != "" && obj.GetLabels()[render.ManagedByLabel] == render.ManagedByValue {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: p}}}
	}
	return nil
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

// namespaceEvents enqueues the profiles a namespace concerns, before or
// after the change (render.Concerns): with many profiles, a namespace
// event starts one pass, not one per profile. A change to labels the
// profile owns on a namespace it governs is repaired by a delta pass;
// anything else needs a full one.
func (r *ProfileReconciler) namespaceEvents() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.namespaceEvent(ctx, nil, e.Object, true, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.namespaceEvent(ctx, e.ObjectOld, e.ObjectNew, false, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.namespaceEvent(ctx, e.Object, nil, false, q)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.namespaceEvent(ctx, nil, e.Object, false, q)
		},
	}
}

func (r *ProfileReconciler) namespaceEvent(ctx context.Context, old, new client.Object, created bool,
	q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	profiles := &segv1.SegmentationProfileList{}
	if err := r.Client.List(ctx, profiles, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	concerns := func(p *segv1.SegmentationProfile, obj client.Object) bool {
		return obj != nil && render.Concerns(p, obj.GetName(), obj.GetLabels())
	}
	for i := range profiles.Items {
		p := &profiles.Items[i]
		if !concerns(p, old) && !concerns(p, new) {
			continue
		}
		switch {
		case old != nil && new != nil && old.GetDeletionTimestamp().Equal(new.GetDeletionTimestamp()) &&
			ownedOnly(old.GetLabels(), new.GetLabels(), r.bases.ownedKeys(p.Name, new.GetName())):
			r.dirty.namespace(p.Name, new.GetName())
		case created:
			// A new namespace may simply join a tier (delta.go's joins).
			r.dirty.namespace(p.Name, new.GetName())
		default:
			r.dirty.full(p.Name)
		}
		q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: p.Name}})
	}
}

// full wraps a map function: the passes it starts are full passes.
func (r *ProfileReconciler) full(f handler.MapFunc) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		reqs := f(ctx, obj)
		for _, req := range reqs {
			r.dirty.full(req.Name)
		}
		return reqs
	}
}

// fullPass is a predicate, last of its list, that marks the profile an
// event passes for a full pass.
func (r *ProfileReconciler) fullPass() predicate.Predicate {
	mark := func(obj client.Object) bool {
		r.dirty.full(obj.GetName())
		return true
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return mark(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return mark(e.ObjectNew) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return mark(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return mark(e.Object) },
	}
}

// selfRequest maps a profile to itself.
func selfRequest(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetName()}}}
}

// policyOwner maps a policy labelled as Tierguard's to the profile on its
// label and to the profile that governs its namespace. A governed
// namespace's own managed policy, changed or deleted, is repaired by a
// delta pass; anything else needs a full one.
func (r *ProfileReconciler) policyOwner(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	labelled := obj.GetLabels()[render.ProfileLabel]
	governing := ""
	ns := namespaceMetadata()
	if err := r.Client.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns, client.UnsafeDisableDeepCopy); err == nil {
		governing = ns.Labels[render.ProfileLabel]
	}
	own := labelled != "" && labelled == governing && obj.GetName() == render.PolicyName &&
		obj.GetLabels()[render.ManagedByLabel] == render.ManagedByValue
	for _, p := range []string{labelled, governing} {
		if p == "" || (len(reqs) > 0 && reqs[0].Name == p) {
			continue
		}
		if own {
			r.dirty.namespace(p, obj.GetNamespace())
		} else {
			r.dirty.full(p)
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: p}})
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
