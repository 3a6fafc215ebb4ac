package controller

// These tests drive single passes of a reconciler against a private API
// server that no running manager touches, so each can stage exactly what
// happens between a pass's reads and writes (with a client interceptor in
// front of the real API server) and check what the pass reported.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/internal/watchcache"
	"github.com/tierguard/tierguard/test/harness"
)

// passEnv is a private API server for single-pass tests.
type passEnv struct {
	cfg    *rest.Config
	scheme *runtime.Scheme
	admin  client.WithWatch
	seq    atomic.Int32
}

func startPassEnv(t *testing.T) *passEnv {
	t.Helper()
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))
	utilruntime.Must(cnpapi.AddToScheme(scheme))
	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatalf("start API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &passEnv{cfg: env.Config, scheme: scheme, admin: admin}
}

// passFixture is one test's profile (tiers dev and prod by the label env)
// and namespaces, named apart from every other test's.
type passFixture struct {
	t       *testing.T
	e       *passEnv
	id      string
	r       *ProfileReconciler
	events  *events.FakeRecorder
	profile string
}

// fixture returns a reconciler whose client goes through funcs, in front
// of the real API server.
func (e *passEnv) fixture(t *testing.T, funcs interceptor.Funcs) *passFixture {
	id := fmt.Sprintf("p%d", e.seq.Add(1))
	c := interceptor.NewClient(e.admin, funcs)
	rec := events.NewFakeRecorder(100)
	r := &ProfileReconciler{Client: c, APIReader: c, Recorder: rec, ApplyConcurrency: 4}
	r.foreign = watchcache.NewForeignPolicies(c, func([]string) {})
	return &passFixture{t: t, e: e, id: id, r: r, events: rec, profile: id}
}

func (f *passFixture) ctx() context.Context { return context.Background() }

func (f *passFixture) namespace(name, env string) string {
	f.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.id + "-" + name, Labels: map[string]string{"suite": f.id, "env": env}}}
	if err := f.e.admin.Create(f.ctx(), ns); err != nil {
		f.t.Fatal(err)
	}
	return ns.Name
}

func (f *passFixture) createProfile(mutate func(*segv1.SegmentationProfile)) {
	f.t.Helper()
	sel := func(env string) *segv1.LabelSelector {
		return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"suite": segv1.LabelValue(f.id), "env": segv1.LabelValue(env)}}
	}
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: f.profile}, Spec: segv1.SegmentationProfileSpec{
		TierLabelKey: segv1.LabelKey(f.id + ".test/tier"),
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: sel("dev")}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: sel("prod")}},
		},
	}}
	if mutate != nil {
		mutate(p)
	}
	if err := f.e.admin.Create(f.ctx(), p); err != nil {
		f.t.Fatal(err)
	}
}

func (f *passFixture) reconcile() error {
	_, err := f.r.Reconcile(f.ctx(), ctrl.Request{NamespacedName: client.ObjectKey{Name: f.profile}})
	return err
}

func (f *passFixture) get() *segv1.SegmentationProfile {
	f.t.Helper()
	p := &segv1.SegmentationProfile{}
	if err := f.e.admin.Get(f.ctx(), client.ObjectKey{Name: f.profile}, p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *passFixture) condition(t string) metav1.Condition {
	f.t.Helper()
	c := meta.FindStatusCondition(f.get().Status.Conditions, t)
	if c == nil {
		f.t.Fatalf("no %s condition", t)
	}
	return *c
}

// enforcedWithDrift enforces the profile on a dev namespace, then changes
// that namespace's labels (drift), and returns its name.
func (f *passFixture) enforcedWithDrift(tamper func(labels map[string]string)) string {
	f.t.Helper()
	ns := f.namespace("dev-a", "dev")
	f.createProfile(nil)
	for range 2 {
		if err := f.reconcile(); err != nil {
			f.t.Fatal(err)
		}
	}
	live := &corev1.Namespace{}
	if err := f.e.admin.Get(f.ctx(), client.ObjectKey{Name: ns}, live); err != nil {
		f.t.Fatal(err)
	}
	tamper(live.Labels)
	if err := f.e.admin.Update(f.ctx(), live); err != nil {
		f.t.Fatal(err)
	}
	return ns
}

// removeNamespace deletes a namespace completely: with no namespace
// controller running, its finalizer is removed by hand.
func (e *passEnv) removeNamespace(ctx context.Context, name string) error {
	cs := kubernetes.NewForConfigOrDie(e.cfg)
	if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ns.Spec.Finalizers = nil
	_, err = cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	return err
}

// namespaceHook runs before a read of the one namespace it is set to; a
// non-nil error from it fails the read.
type namespaceHook struct{ name atomic.Value }

func (h *namespaceHook) set(name string) { h.name.Store(name) }

func (h *namespaceHook) funcs(hook func(ctx context.Context, name string) error) interceptor.Funcs {
	return interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if name, _ := h.name.Load().(string); name != "" && key.Name == name && isNamespace(obj) {
			if err := hook(ctx, name); err != nil {
				return err
			}
		}
		return c.Get(ctx, key, obj, opts...)
	}}
}

func isNamespace(obj client.Object) bool {
	if _, ok := obj.(*corev1.Namespace); ok {
		return true
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	return ok && m.GroupVersionKind().Kind == "Namespace"
}

func isNamespaceList(list client.ObjectList) bool {
	if _, ok := list.(*corev1.NamespaceList); ok {
		return true
	}
	m, ok := list.(*metav1.PartialObjectMetadataList)
	return ok && m.GroupVersionKind().Kind == "NamespaceList"
}

var errInjected = apierrors.NewInternalError(errors.New("etcd hiccup: quota 100% used"))

func TestPass(t *testing.T) {
	e := startPassEnv(t)

	// The status reports the generation the plan was made from, even when
	// the profile changes while the pass writes.
	t.Run("observedGeneration is the plan's", func(t *testing.T) {
		var f *passFixture
		var bumped atomic.Bool
		f = e.fixture(t, interceptor.Funcs{Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if !bumped.Swap(true) {
				p := f.get()
				p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"team": "a"}
				if err := e.admin.Update(ctx, p); err != nil {
					t.Errorf("update the profile mid-pass: %v", err)
				}
			}
			return c.Apply(ctx, obj, opts...)
		}})
		f.namespace("dev-a", "dev")
		f.createProfile(nil)
		planned := f.get().Generation
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		p := f.get()
		if p.Generation == planned {
			t.Fatal("the profile was not changed mid-pass")
		}
		ready := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionReady)
		if p.Status.ObservedGeneration != planned || ready == nil || ready.ObservedGeneration != planned {
			t.Fatalf("status observedGeneration %d, Ready's %v; want %d, the generation the plan was made from (now %d)",
				p.Status.ObservedGeneration, ready, planned, p.Generation)
		}
	})

	// A drift repair whose object went meanwhile changed nothing: it is not
	// counted, and nothing is written.
	t.Run("a repair of a namespace deleted meanwhile is not counted", func(t *testing.T) {
		var removeOn namespaceHook
		f := e.fixture(t, removeOn.funcs(func(ctx context.Context, name string) error {
			removeOn.set("")
			if err := e.removeNamespace(ctx, name); err != nil {
				t.Errorf("remove namespace: %v", err)
			}
			return nil
		}))
		// Drift: the tier label removed; the namespace goes right after the
		// pass has listed it, when the repair is confirmed.
		ns := f.enforcedWithDrift(func(labels map[string]string) { delete(labels, f.id+".test/tier") })
		removeOn.set(ns)
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if n := f.get().Status.Drift.Repairs; n != 0 {
			t.Fatalf("%d repair(s) counted for a namespace that was gone", n)
		}
		select {
		case ev := <-f.events.Events:
			if strings.Contains(ev, "DriftRepaired") {
				t.Fatalf("a repair event for a namespace that was gone: %s", ev)
			}
		default:
		}
	})

	// A confirming read that fails proves no drift: the write waits for a
	// pass that can read, and no repair is counted.
	t.Run("a failed confirming read is a failure, not drift", func(t *testing.T) {
		var failOn namespaceHook
		f := e.fixture(t, failOn.funcs(func(context.Context, string) error { return errInjected }))
		ns := f.enforcedWithDrift(func(labels map[string]string) { labels[f.id+".test/tier"] = "prod" })
		failOn.set(ns)
		if err := f.reconcile(); err == nil {
			t.Fatal("the pass hid a failed read")
		}
		p := f.get()
		if p.Status.Drift.Repairs != 0 {
			t.Fatalf("%d repair(s) counted without a confirming read", p.Status.Drift.Repairs)
		}
		if c := f.condition(segv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != segv1.ReasonApplyFailed {
			t.Fatalf("Ready %s/%s, want False/ApplyFailed", c.Status, c.Reason)
		}
		failOn.set("")
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if n := f.get().Status.Drift.Repairs; n != 1 {
			t.Fatalf("%d repairs once the read works, want 1", n)
		}
	})

	// A namespace whose labels cannot be applied keeps its policy for a
	// later pass: the policy write was not attempted, it did not fail too.
	// The API error, which holds a '%', reaches the event intact.
	t.Run("a failed write is reported once, and events quote it", func(t *testing.T) {
		f := e.fixture(t, interceptor.Funcs{Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			return errInjected
		}})
		f.namespace("dev-a", "dev")
		f.createProfile(nil)
		if err := f.reconcile(); err == nil {
			t.Fatal("the pass hid a failed write")
		}
		p := f.get()
		ready := f.condition(segv1.ConditionReady)
		if ready.Reason != segv1.ReasonApplyFailed || !strings.Contains(ready.Message, "1 of 2 write(s) failed") ||
			!strings.Contains(ready.Message, "1 later write(s) to the same namespaces not attempted") {
			t.Fatalf("Ready: %s: %s", ready.Reason, ready.Message)
		}
		if p.Status.PendingChanges != 2 {
			t.Fatalf("pendingChanges %d, want 2", p.Status.PendingChanges)
		}
		var warned bool
		for len(f.events.Events) > 0 {
			ev := <-f.events.Events
			if strings.Contains(ev, segv1.ReasonApplyFailed) {
				warned = true
				if !strings.Contains(ev, "quota 100% used") || strings.Contains(ev, "%!") {
					t.Fatalf("event garbles the API error: %s", ev)
				}
			}
		}
		if !warned {
			t.Fatal("no ApplyFailed event")
		}
	})

	// A pass that cannot read the cluster says so in status.
	t.Run("a failed read is reported as Ready=False/ReadFailed", func(t *testing.T) {
		var fail atomic.Bool
		f := e.fixture(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if fail.Load() && isNamespaceList(list) {
				return errInjected
			}
			return c.List(ctx, list, opts...)
		}})
		f.namespace("dev-a", "dev")
		f.createProfile(nil)
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		fail.Store(true)
		if err := f.reconcile(); err == nil {
			t.Fatal("the pass hid a failed read")
		}
		ready, rec := f.condition(segv1.ConditionReady), f.condition(segv1.ConditionReconciling)
		if ready.Status != metav1.ConditionFalse || ready.Reason != segv1.ReasonReadFailed || !strings.Contains(ready.Message, "quota 100% used") {
			t.Fatalf("Ready %s/%s: %s", ready.Status, ready.Reason, ready.Message)
		}
		if rec.Status != metav1.ConditionTrue || rec.Reason != segv1.ReasonReadFailed {
			t.Fatalf("Reconciling %s/%s", rec.Status, rec.Reason)
		}
		if iso := f.condition(segv1.ConditionIsolationVerified); iso.Status != metav1.ConditionTrue {
			t.Fatalf("the last verdict on isolation was lost: %s/%s", iso.Status, iso.Reason)
		}
		fail.Store(false)
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if c := f.condition(segv1.ConditionReady); c.Reason != segv1.ReasonEnforced {
			t.Fatalf("Ready %s after the read works again", c.Reason)
		}
		if c := meta.FindStatusCondition(f.get().Status.Conditions, segv1.ConditionReconciling); c != nil {
			t.Fatalf("Reconciling stays: %v", c)
		}
	})

	// Foreign policies that cannot be listed leave isolation unknown, with
	// the reason, but do not hold enforcement back.
	t.Run("a failed foreign-policy listing leaves isolation Unknown and enforces", func(t *testing.T) {
		f := e.fixture(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			selected := slices.ContainsFunc(opts, func(o client.ListOption) bool { _, ok := o.(client.MatchingLabelsSelector); return ok })
			if _, ok := list.(*networkingv1.NetworkPolicyList); ok && selected { // the store's listing of foreign policies
				return errInjected
			}
			return c.List(ctx, list, opts...)
		}})
		f.namespace("dev-a", "dev")
		f.createProfile(nil)
		if err := f.reconcile(); err == nil {
			t.Fatal("the pass hid a failed listing")
		}
		if c := f.condition(segv1.ConditionReady); c.Reason != segv1.ReasonEnforced {
			t.Fatalf("Ready %s/%s: enforcement was held back", c.Status, c.Reason)
		}
		if c := f.condition(segv1.ConditionIsolationVerified); c.Status != metav1.ConditionUnknown || c.Reason != segv1.ReasonReadFailed {
			t.Fatalf("IsolationVerified %s/%s, want Unknown/ReadFailed", c.Status, c.Reason)
		}
	})

	// The finalizer goes with the optimistic lock: a merge patch replaces
	// the whole list, so from a stale view it would bring back a finalizer
	// another controller removed meanwhile.
	t.Run("the finalizer is removed under the optimistic lock", func(t *testing.T) {
		const other = "example.com/hold"
		var f *passFixture
		var raced atomic.Bool
		f = e.fixture(t, interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*segv1.SegmentationProfile); ok && !raced.Swap(true) {
				p := f.get() // another controller lets go meanwhile
				p.Finalizers = []string{Finalizer}
				if err := e.admin.Update(ctx, p); err != nil {
					t.Errorf("remove the other finalizer: %v", err)
				}
			}
			return c.Patch(ctx, obj, patch, opts...)
		}})
		f.createProfile(func(p *segv1.SegmentationProfile) {
			p.Finalizers = []string{Finalizer, other}
			p.Spec.DeletionPolicy = segv1.DeletionPolicyDelete
		})
		if err := e.admin.Delete(f.ctx(), f.get()); err != nil {
			t.Fatal(err)
		}
		err := f.reconcile()
		if !apierrors.IsConflict(err) {
			t.Fatalf("finalize from a stale view: %v, want a conflict", err)
		}
		if fin := f.get().Finalizers; len(fin) != 1 || fin[0] != Finalizer {
			t.Fatalf("finalizers %v, want only Tierguard's (the other was removed, not brought back)", fin)
		}
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if err := e.admin.Get(f.ctx(), client.ObjectKey{Name: f.profile}, &segv1.SegmentationProfile{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the profile is still there: %v", err)
		}
	})

	// A pass working from a cache that does not show the previous pass's
	// writes yet finds the labels already applied: the namespace joined
	// once, and is recorded once.
	t.Run("a membership change is recorded once when the cache lags", func(t *testing.T) {
		var f *passFixture
		var lag atomic.Bool
		f = e.fixture(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil || !lag.Load() {
				return err
			}
			switch l := list.(type) {
			case *metav1.PartialObjectMetadataList: // namespaces, as before the first pass
				for i := range l.Items {
					delete(l.Items[i].Labels, f.id+".test/tier")
					delete(l.Items[i].Labels, render.ProfileLabel)
				}
			case *networkingv1.NetworkPolicyList: // without the first pass's policy
				l.Items = slices.DeleteFunc(l.Items, func(p networkingv1.NetworkPolicy) bool { return render.IsManagedPolicy(&p) })
			}
			return nil
		}})
		f.namespace("dev-a", "dev")
		f.createProfile(nil)
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if n := f.get().Status.Membership.Changes; n != 1 {
			t.Fatalf("%d membership changes after the first pass, want 1", n)
		}
		lag.Store(true)
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if n := f.get().Status.Membership.Changes; n != 1 {
			t.Fatalf("%d membership changes after a pass from a lagging cache, want still 1", n)
		}
	})

	t.Run("a status is written once when the cache lags behind the write", func(t *testing.T) {
		var (
			stale        atomic.Pointer[segv1.SegmentationProfile]
			statusWrites atomic.Int32
		)
		var f *passFixture
		f = e.fixture(t, interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if p, ok := obj.(*segv1.SegmentationProfile); ok && key.Name == f.profile {
					if old := stale.Load(); old != nil { // the profile as before the first pass's status write
						old.DeepCopyInto(p)
						return nil
					}
				}
				return c.Get(ctx, key, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if sub == "status" {
					statusWrites.Add(1)
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		})
		f.namespace("dev-a", "dev")
		// Retain: no finalizer is written, so the stale profile's version
		// meets no optimistic lock.
		f.createProfile(func(p *segv1.SegmentationProfile) { p.Spec.DeletionPolicy = segv1.DeletionPolicyRetain })
		before := f.get()
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if n := statusWrites.Load(); n != 1 {
			t.Fatalf("%d status writes in the first pass, want 1", n)
		}
		events := len(f.events.Events)
		stale.Store(before)
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if n := statusWrites.Load(); n != 1 {
			t.Fatalf("%d status writes after a pass that found nothing new from a lagging cache, want still 1", n)
		}
		if n := len(f.events.Events); n != events {
			t.Fatalf("%d event(s) announced again: %v", n-events, <-f.events.Events)
		}
		// Once the cache shows another version, it is compared again: a
		// status someone changed is written back.
		stale.Store(nil)
		p := f.get()
		p.Status.GovernedNamespaces = 99
		if err := f.e.admin.Status().Update(f.ctx(), p); err != nil {
			t.Fatal(err)
		}
		if err := f.reconcile(); err != nil {
			t.Fatal(err)
		}
		if got := f.get().Status.GovernedNamespaces; got != 1 || statusWrites.Load() != 2 {
			t.Fatalf("governedNamespaces %d after %d status writes, want 1 after 2", got, statusWrites.Load())
		}
	})

	// A reconciler as a zero value (its memory never set up) forgets a
	// deleted profile without panicking.
	t.Run("a zero-value reconciler handles a deleted profile", func(t *testing.T) {
		r := &ProfileReconciler{Client: e.admin, APIReader: e.admin}
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "never-existed"}}); err != nil {
			t.Fatal(err)
		}
	})
}
