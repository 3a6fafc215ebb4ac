// Package controller keeps every SegmentationProfile enforced: it reads the
// cluster from the cache, plans with internal/render, compares with
// internal/diff, writes only the differences with server-side apply, and
// reports in status, events and metrics.
package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/metrics"
	"github.com/tierguard/tierguard/internal/render"
)

const (
	// FieldManager is the one field manager of every Tierguard write.
	FieldManager = "tierguard"
	// Finalizer lets Tierguard remove what it wrote before a profile with
	// deletionPolicy Delete goes.
	Finalizer = "segmentation.tierguard.io/cleanup"
)

// ProfileReconciler reconciles SegmentationProfiles.
type ProfileReconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly; used only to find who
	// changed a drifted object (managedFields are stripped from the cache).
	APIReader client.Reader
	// Recorder emits events on profiles.
	Recorder events.EventRecorder
	// OperatorNamespace is never governed.
	OperatorNamespace string
	// ApplyConcurrency bounds parallel writes within one reconcile.
	ApplyConcurrency int
	// Now returns the current time; tests may fix it.
	Now func() time.Time

	leakMemos sync.Map // profile name -> leakMemo
	seen      sync.Map // profile name -> *seenPolicies
	verified  sync.Map // profile name -> *diff.Verified
	echoes    echoes
	foreign   *foreignPolicies
	accepted  acceptedPlans
	retained  retainedMemory
}

// +kubebuilder:rbac:groups=segmentation.tierguard.io,resources=segmentationprofiles,verbs=get;list;watch;patch;assign
// +kubebuilder:rbac:groups=segmentation.tierguard.io,resources=segmentationprofiles/status,verbs=get;patch
// +kubebuilder:rbac:groups=segmentation.tierguard.io,resources=segmentationprofiles/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one profile's namespaces and policies to its plan.
func (r *ProfileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	profile := &segv1.SegmentationProfile{}
	if err := r.Client.Get(ctx, req.NamespacedName, profile); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.Forget(req.Name)
			r.leakMemos.Delete(req.Name)
			r.seen.Delete(req.Name)
			r.verified.Delete(req.Name)
			r.foreign.forget(req.Name)
			r.accepted.forget(req.Name)
			r.retained.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !profile.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, profile)
	}
	// Under Delete the finalizer goes on before anything is written, so a
	// profile deleted mid-pass is always cleaned up; under Retain only
	// retainWithoutFinalizer adds or removes it.
	if render.DeletionPolicy(profile) == segv1.DeletionPolicyDelete {
		if err := r.setFinalizer(ctx, profile, true); err != nil {
			return ctrl.Result{}, err
		}
	}

	o, err := r.enforce(ctx, profile)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(o.repairs) > 0 || len(o.membership) > 0 {
		// Repairs and membership changes add to counters: base them on the
		// live status, not on a cache that may not show the previous pass's
		// status write yet.
		if err := r.APIReader.Get(ctx, req.NamespacedName, profile); err != nil {
			return ctrl.Result{}, fmt.Errorf("read profile %s: %w", req.Name, err)
		}
	}
	if err := r.patchStatus(ctx, profile, computeStatus(profile, o)); err != nil {
		return ctrl.Result{}, err
	}
	if len(o.failed) > 0 {
		return ctrl.Result{}, fmt.Errorf("%d write(s) failed for profile %s", len(o.failed), profile.Name)
	}
	if err := r.retainWithoutFinalizer(ctx, profile, o.ownedByProfile > 0); err != nil {
		return ctrl.Result{}, err
	}
	if len(o.stale) > 0 {
		// Objects changed since they were observed: look again once the
		// cache has caught up.
		return ctrl.Result{RequeueAfter: staleRequeue}, nil
	}
	return ctrl.Result{}, nil
}

// staleRequeue is how soon a pass whose guarded writes met changed objects
// is repeated.
const staleRequeue = 200 * time.Millisecond

// retainWithoutFinalizer, under deletionPolicy Retain, removes the
// profile's owner reference from every policy, in Enforce and Audit mode
// alike, and then the finalizer: from then on the profile may go at once
// and the garbage collector keeps every policy.
//
// owned says the cache showed policies with the profile's owner reference:
// a profile whose finalizer an earlier version removed too early gets it
// back until they are released.
func (r *ProfileReconciler) retainWithoutFinalizer(ctx context.Context, profile *segv1.SegmentationProfile, owned bool) error {
	if render.DeletionPolicy(profile) != segv1.DeletionPolicyRetain {
		return nil
	}
	if !controllerutil.ContainsFinalizer(profile, Finalizer) {
		if !owned {
			return nil
		}
		if err := r.setFinalizer(ctx, profile, true); err != nil {
			return err
		}
	}
	left, err := r.releaseOwnership(ctx, profile)
	if err != nil || left > 0 {
		return err // a policy changed meanwhile: its event starts a new pass
	}
	return r.setFinalizer(ctx, profile, false)
}

// enforce plans, compares and, in Enforce mode, writes the differences.
func (r *ProfileReconciler) enforce(ctx context.Context, profile *segv1.SegmentationProfile) (outcome, error) {
	state, err := r.observe(ctx, profile)
	if err != nil {
		return outcome{}, err
	}
	plan, err := render.Compute(state.input)
	if err != nil {
		return outcome{}, fmt.Errorf("plan profile %s: %w", profile.Name, err)
	}
	names := make([]string, len(plan.Governed))
	for i := range plan.Governed {
		names[i] = plan.Governed[i].Name
	}
	if state.foreign, err = r.foreign.govern(ctx, profile.Name, names); err != nil {
		return outcome{}, err
	}
	o := outcome{plan: plan, actions: diff.Compute(plan, state.observed), now: metav1.NewTime(r.now()),
		ownedByProfile: state.ownedByProfile}
	newlyRetained := r.retained.newlyRetained(profile.Name, plan.Retained)
	if render.Mode(profile) == segv1.ModeAudit {
		o.managedPolicies = state.ownPolicies
	} else {
		if o.actions, o.refused, err = r.admitPlan(ctx, profile, plan, o.actions); err != nil {
			return outcome{}, err
		}
		res := r.write(ctx, profile, o.actions, o.now)
		o.failed, o.stale, o.repairs = res.failed, res.stale, res.repairs
		o.managedPolicies = managedAfter(plan, o) - refusedWithoutPolicy(profile, plan, o.refused, state.observed)
		o.membership = membershipChanges(profile, plan, state.observed, o.actions, res, newlyRetained, o.now)
		r.attributeMembership(ctx, profile, o.membership)
	}
	r.verifyIsolation(profile, state, &o)
	r.report(profile, o)
	return o, nil
}

// managedAfter counts the profile's policies once the pass's writes are done.
func managedAfter(plan *render.Plan, o outcome) int32 {
	n := int32(len(plan.Governed))
	for i, a := range o.actions {
		if _, failed := o.failed[i]; failed && a.Type == diff.ApplyPolicy {
			n--
		}
	}
	return n
}

// refusedWithoutPolicy counts the namespaces of refused tiers that hold no
// policy of the profile: the pass wrote none there.
func refusedWithoutPolicy(profile *segv1.SegmentationProfile, plan *render.Plan, refused map[string]refusal, obs diff.Observed) int32 {
	if len(refused) == 0 {
		return 0
	}
	var n int32
	for _, g := range plan.Governed {
		if _, ok := refused[g.Tier]; !ok {
			continue
		}
		if pol := obs.Policies[g.Name]; pol == nil || pol.Labels[render.ProfileLabel] != profile.Name {
			n++
		}
	}
	return n
}

// patchStatus writes the status when it changed, and only then.
func (r *ProfileReconciler) patchStatus(ctx context.Context, profile *segv1.SegmentationProfile, st segv1.SegmentationProfileStatus) error {
	if equality.Semantic.DeepEqual(profile.Status, st) {
		return nil
	}
	before := profile.DeepCopy()
	r.announceTransitions(profile, st)
	profile.Status = st
	if err := r.Client.Status().Patch(ctx, profile, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status of profile %s: %w", profile.Name, err)
	}
	return nil
}

// setFinalizer adds or removes the cleanup finalizer.
func (r *ProfileReconciler) setFinalizer(ctx context.Context, profile *segv1.SegmentationProfile, want bool) error {
	if want == controllerutil.ContainsFinalizer(profile, Finalizer) {
		return nil
	}
	before := profile.DeepCopy()
	if want {
		controllerutil.AddFinalizer(profile, Finalizer)
	} else {
		controllerutil.RemoveFinalizer(profile, Finalizer)
	}
	if err := r.Client.Patch(ctx, profile, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("update finalizer of profile %s: %w", profile.Name, err)
	}
	return nil
}

func (r *ProfileReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// report updates metrics and emits events for the pass's repairs.
func (r *ProfileReconciler) report(profile *segv1.SegmentationProfile, o outcome) {
	for _, rec := range o.repairs {
		metrics.DriftRepairs.WithLabelValues(profile.Name, rec.Kind, string(rec.Change)).Inc()
		r.Recorder.Eventf(profile, nil, "Warning", "DriftRepaired", "Repair", "Repaired %s", repairSummary(rec))
	}
	r.announceMembership(profile, o.membership)
	if len(o.failed) > 0 {
		metrics.ApplyErrors.WithLabelValues(profile.Name).Add(float64(len(o.failed)))
	}
	for _, t := range o.plan.TierCounts(profile) {
		metrics.GovernedNamespaces.WithLabelValues(profile.Name, t.Name).Set(float64(t.Namespaces))
	}
	metrics.Conflicts.WithLabelValues(profile.Name).Set(float64(len(o.plan.Conflicts)))
	metrics.IsolationLeaks.WithLabelValues(profile.Name).Set(float64(len(o.leaks)))
}
