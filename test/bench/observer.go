package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// profileGVR is the SegmentationProfile resource.
var profileGVR = schema.GroupVersionResource{Group: segv1.GroupVersion.Group, Version: segv1.GroupVersion.Version, Resource: "segmentationprofiles"}

// observer watches namespaces, NetworkPolicies and profiles as admin and
// tells, at the moment an event arrives, when a condition on the objects of
// one namespace (or one profile) becomes true. Every latency the bench
// reports ends in one of its event handlers: nothing polls.
type observer struct {
	namespaces cache.SharedIndexInformer
	policies   cache.SharedIndexInformer
	profiles   cache.SharedIndexInformer

	mu      sync.Mutex
	waiters map[string][]*waiter
}

// waiter is a condition someone waits for; at receives the time of the
// event that made it true.
type waiter struct {
	check func() bool
	at    chan time.Time
}

// newObserver starts the informers and waits for their first list.
func newObserver(ctx context.Context, cfg *rest.Config) (*observer, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("observer client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("observer client: %w", err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithTransform(stripManagedFields))
	df := dynamicinformer.NewDynamicSharedInformerFactory(dc, 0)
	o := &observer{
		namespaces: f.Core().V1().Namespaces().Informer(),
		policies:   f.Networking().V1().NetworkPolicies().Informer(),
		profiles:   df.ForResource(profileGVR).Informer(),
		waiters:    map[string][]*waiter{},
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		key func(namespace, name string) string
	}{
		{o.namespaces, func(_, name string) string { return name }},
		{o.policies, func(namespace, _ string) string { return namespace }},
		{o.profiles, func(_, name string) string { return profileKey(name) }},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(o.handler(h.key)); err != nil {
			return nil, fmt.Errorf("observer handler: %w", err)
		}
	}
	f.Start(ctx.Done())
	df.Start(ctx.Done())
	for _, inf := range []cache.SharedIndexInformer{o.namespaces, o.policies, o.profiles} {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return nil, fmt.Errorf("observer: caches did not sync")
		}
	}
	return o, nil
}

// handler notifies the waiters of the key an event maps to.
func (o *observer) handler(key func(namespace, name string) string) cache.ResourceEventHandler {
	notify := func(obj any) {
		k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		ns, name, err := cache.SplitMetaNamespaceKey(k)
		if err != nil {
			return
		}
		o.notify(key(ns, name))
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { notify(obj) },
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}
}

// notify evaluates the waiters of key and releases those now satisfied.
func (o *observer) notify(key string) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	ws := o.waiters[key]
	kept := ws[:0]
	for _, w := range ws {
		if w.check() {
			w.at <- now
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		delete(o.waiters, key)
	} else {
		o.waiters[key] = kept
	}
}

// await registers check on key and returns a channel that receives the time
// it first holds after an event on key; when it already holds, the time of
// the call.
func (o *observer) await(key string, check func() bool) <-chan time.Time {
	w := &waiter{check: check, at: make(chan time.Time, 1)}
	o.mu.Lock()
	defer o.mu.Unlock()
	if check() {
		w.at <- time.Now()
		return w.at
	}
	o.waiters[key] = append(o.waiters[key], w)
	return w.at
}

// namespace returns the cached namespace, or nil.
func (o *observer) namespace(name string) *corev1.Namespace {
	obj, ok, err := o.namespaces.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Namespace)
}

// policy returns the cached managed policy of a namespace, or nil.
func (o *observer) policy(namespace string) *networkingv1.NetworkPolicy {
	obj, ok, err := o.policies.GetStore().GetByKey(namespace + "/" + render.PolicyName)
	if err != nil || !ok {
		return nil
	}
	return obj.(*networkingv1.NetworkPolicy)
}

// profile returns the cached profile, or nil.
func (o *observer) profile(name string) *segv1.SegmentationProfile {
	obj, ok, err := o.profiles.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	p := &segv1.SegmentationProfile{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.(*unstructured.Unstructured).Object, p); err != nil {
		return nil
	}
	return p
}

// labelsEnforced reports whether the namespace carries the planned labels.
func (o *observer) labelsEnforced(g *render.GovernedNamespace) bool {
	ns := o.namespace(g.Name)
	return ns != nil && hasLabels(ns.Labels, g.Labels)
}

// policyEnforced reports whether the namespace's policy is as planned: its
// labels, annotations and spec.
func (o *observer) policyEnforced(g *render.GovernedNamespace) bool {
	pol := o.policy(g.Name)
	return pol != nil && hasLabels(pol.Labels, g.Policy.Labels) && hasLabels(pol.Annotations, g.Policy.Annotations) &&
		equality.Semantic.DeepEqual(pol.Spec, g.Policy.Spec)
}

// enforced reports whether the namespace's labels and policy are as planned.
func (o *observer) enforced(g *render.GovernedNamespace) bool {
	return o.labelsEnforced(g) && o.policyEnforced(g)
}

// expectEnforced registers, before anything is written, a wait for every
// governed namespace of plan to be enforced; the returned function waits
// and returns when the last one was, or an error after timeout.
func (o *observer) expectEnforced(plan *render.Plan) func(ctx context.Context, timeout time.Duration) (time.Time, error) {
	chans := make([]<-chan time.Time, len(plan.Governed))
	for i := range plan.Governed {
		g := &plan.Governed[i]
		chans[i] = o.await(g.Name, func() bool { return o.enforced(g) })
	}
	return func(ctx context.Context, timeout time.Duration) (time.Time, error) {
		return o.awaitAll(ctx, chans, timeout, func(missing int) string {
			return fmt.Sprintf("%d of %d namespaces not enforced", missing, len(plan.Governed))
		})
	}
}

// awaitReady waits until the profile reports Ready=True for its current
// generation with governed namespaces.
func (o *observer) awaitReady(ctx context.Context, name string, governed int, timeout time.Duration) (time.Time, error) {
	ch := o.await(profileKey(name), func() bool {
		p := o.profile(name)
		if p == nil {
			return false
		}
		c := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == p.Generation &&
			int(p.Status.GovernedNamespaces) == governed
	})
	return o.awaitAll(ctx, []<-chan time.Time{ch}, timeout, func(int) string {
		return "profile " + name + " not Ready"
	})
}

// awaitAll waits for every channel and returns the latest time received.
func (o *observer) awaitAll(ctx context.Context, chans []<-chan time.Time, timeout time.Duration, describe func(missing int) string) (time.Time, error) {
	deadline := time.After(timeout)
	var last time.Time
	for done, ch := range chans {
		select {
		case t := <-ch:
			if t.After(last) {
				last = t
			}
		case <-deadline:
			return last, fmt.Errorf("after %s: %s", timeout, describe(len(chans)-done))
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
	return last, nil
}

// profileKey is the waiter key of a profile.
func profileKey(name string) string { return "profile/" + name }

// hasLabels reports whether labels include every entry of want.
func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// newerThan reports whether obj's resourceVersion is greater than rv (both
// etcd revisions on this API server).
func newerThan(obj metav1.Object, rv string) bool {
	a, err1 := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	b, err2 := strconv.ParseUint(rv, 10, 64)
	return err1 == nil && err2 == nil && a > b
}

// stripManagedFields drops what the observer never reads.
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
