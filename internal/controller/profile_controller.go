// Package controller keeps every SegmentationProfile enforced: it reads the
// cluster from the cache, plans with internal/render, compares with
// internal/diff, writes only the differences with server-side apply, and
// reports in status, events and metrics. What it remembers between passes
// is internal/memory's; how the cache is fed is internal/watchcache's.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/metrics"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/internal/watchcache"
)

const (
	// FieldManager is the one field manager of every Tierguard write.
	FieldManager = "tierguard"
	// Finalizer lets Tierguard remove what it wrote before a profile with
	// deletionPolicy Delete goes.
	Finalizer = "segmentation.tierguard.io/cleanup"
)

// ProfileReconciler reconciles SegmentationProfiles. Its zero value, with
// the exported fields set, can reconcile; SetupWithManager adds the watches
// (and the foreign-policy store isolation is verified against).
type ProfileReconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly: to confirm drift and
	// name who made it (managedFields are stripped from the cache), and to
	// release ownership before a finalizer goes.
	APIReader client.Reader
	// Recorder emits events on profiles.
	Recorder events.EventRecorder
	// OperatorNamespace is never governed.
	OperatorNamespace string
	// ApplyConcurrency bounds parallel writes within one reconcile.
	ApplyConcurrency int

	// Reports writes OpenReports (openreports.io/v1alpha1): a ClusterReport
	// per profile and a Report per governed namespace.
	Reports bool

	// Canary runs the enforcement canary of the profiles that have one;
	// nil: none runs (EnforcementVerified stays absent).
	Canary *CanaryRunner

	// ClusterNetworkPolicies finds the served ClusterNetworkPolicy version;
	// SetupWithManager sets one up when nil. Without one, none is served.
	ClusterNetworkPolicies *cnpapi.Detector

	memory memory.Memory
	echoes watchcache.Echoes
	// namespaceOrder keeps the last pass's order of namespace names.
	namespaceOrder nameOrder
	// dirty records what events touched since each profile's last pass,
	// and bases what full passes leave for delta passes (delta.go).
	dirty   dirtyTracker
	bases   bases
	foreign *watchcache.ForeignPolicies

	// ctl and cache start the ClusterNetworkPolicy watch once the version
	// is known (cnpWatching, under cnpWatchMu).
	ctl         controller.Controller
	cache       cache.Cache
	cnpWatchMu  sync.Mutex
	cnpWatching string
}

// +kubebuilder:rbac:groups=segmentation.tierguard.io,resources=segmentationprofiles,verbs=get;list;watch;patch;assign
// +kubebuilder:rbac:groups=segmentation.tierguard.io,resources=segmentationprofiles/status,verbs=get;patch
// +kubebuilder:rbac:groups=segmentation.tierguard.io,resources=segmentationprofiles/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one profile's namespaces and policies to its plan. Every
// return after the profile was read leaves a status that says how the pass
// ended: the pass's own, or Ready=False with the reason it failed.
func (r *ProfileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	dirty, delta := r.dirty.take(req.Name)
	defer func() {
		if err != nil || res.RequeueAfter > 0 {
			r.dirty.full(req.Name) // whatever is repeated is repeated in full
		}
	}()
	profile := &segv1.SegmentationProfile{}
	if err := r.Client.Get(ctx, req.NamespacedName, profile); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err // nothing to report the error on
	}
	if !profile.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, profile)
	}
	// Under Delete the finalizer goes on before anything is written, so a
	// profile deleted mid-pass is always cleaned up; under Retain only
	// retainWithoutFinalizer adds or removes it.
	if render.DeletionPolicy(profile) == segv1.DeletionPolicyDelete {
		if err := r.setFinalizer(ctx, profile, true); err != nil {
			return r.fail(ctx, profile, failure(segv1.ReasonApplyFailed, err))
		}
	}

	if !delta {
		dirty = nil
	}
	o, err := r.enforce(ctx, profile, dirty)
	if err != nil {
		return r.fail(ctx, profile, err)
	}
	reported, err := r.patchStatus(ctx, profile, o)
	if err != nil {
		return ctrl.Result{}, err
	}
	reportConditions(reported)
	if err := r.writeReports(ctx, reported, o); err != nil {
		return ctrl.Result{}, err
	}
	if n := o.writes.count(writeFailed); n > 0 {
		return ctrl.Result{}, fmt.Errorf("%d write(s) failed for profile %s", n, profile.Name)
	}
	if err := r.retainWithoutFinalizer(ctx, profile, o.ownedByProfile > 0); err != nil {
		return r.fail(ctx, reported, failure(segv1.ReasonApplyFailed, err))
	}
	if o.isolation.err != nil {
		return ctrl.Result{}, o.isolation.err // reported as IsolationVerified=Unknown/ReadFailed
	}
	switch {
	case o.writes.count(writeStale) > 0:
		// Objects changed since they were observed: look again once the
		// cache has caught up.
		return ctrl.Result{RequeueAfter: staleRequeue}, nil
	case o.isolation.listing:
		return ctrl.Result{RequeueAfter: listingRequeue}, nil
	case o.cnpMissing && r.ClusterNetworkPolicies != nil:
		// The CRD may be installed: look again once the detector does.
		return ctrl.Result{RequeueAfter: r.ClusterNetworkPolicies.RetryAfter()}, nil
	}
	return ctrl.Result{}, nil
}

const (
	// staleRequeue is how soon a pass whose guarded writes met changed
	// objects is repeated.
	staleRequeue = 200 * time.Millisecond
	// listingRequeue is how soon a pass is repeated whose isolation could
	// not be verified because another pass was listing the foreign policies
	// of some of its namespaces.
	listingRequeue = time.Second
)

// forget drops everything the process holds for a deleted profile.
func (r *ProfileReconciler) forget(profile string) {
	r.bases.put(profile, nil)
	metrics.Forget(profile)
	r.memory.Forget(profile)
	r.foreign.Forget(profile)
}

// passError is a pass that ended before its outcome was known, with the
// Ready reason it reports.
type passError struct {
	reason string
	err    error
}

func (e *passError) Error() string { return e.err.Error() }
func (e *passError) Unwrap() error { return e.err }

func failure(reason string, err error) error { return &passError{reason: reason, err: err} }

// fail reports a pass that ended early: Ready=False with the reason, and
// Reconciling (Tierguard retries) or Stalled (a person must change the
// profile). The error is returned for the work queue's backoff.
func (r *ProfileReconciler) fail(ctx context.Context, profile *segv1.SegmentationProfile, err error) (ctrl.Result, error) {
	reason := segv1.ReasonApplyFailed
	if pe := (*passError)(nil); errors.As(err, &pe) {
		reason = pe.reason
	}
	known := *profile // the status built on is the one the API server holds, as far as known
	known.Status = r.currentStatus(profile)
	st := failedStatus(&known, reason, err)
	if perr := r.writeStatus(ctx, profile, st); perr != nil {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	reportConditions(profile)
	if reason == segv1.ReasonPlanFailed {
		// Retrying cannot help until the profile changes, which starts a
		// new pass.
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

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

// enforce plans, compares and, in Enforce mode, writes the differences,
// then verifies isolation and reports in metrics and events. With dirty
// namespaces, it repairs only those when it can (a delta pass, delta.go).
func (r *ProfileReconciler) enforce(ctx context.Context, profile *segv1.SegmentationProfile, dirty []string) (outcome, error) {
	mem := r.memory.Profile(profile.Name)
	if len(dirty) > 0 {
		if o, ok, err := r.enforceDelta(ctx, profile, mem, dirty); ok {
			metrics.Passes.WithLabelValues("delta").Inc()
			return o, err
		}
	}
	metrics.Passes.WithLabelValues("full").Inc()
	state, err := r.observe(ctx, profile, mem)
	if err != nil {
		return outcome{}, failure(segv1.ReasonReadFailed, err)
	}
	if state.cnp, err = r.observeClusterPolicies(ctx, profile); err != nil {
		return outcome{}, failure(segv1.ReasonReadFailed, err)
	}
	plan, err := render.Compute(state.input)
	if err == nil {
		err = planClusterPolicies(profile, plan, &state.cnp)
	}
	if err != nil {
		return outcome{}, failure(segv1.ReasonPlanFailed, fmt.Errorf("plan profile %s: %w", profile.Name, err))
	}
	mem.Prune(plan)
	var pass passActions
	pass.applies, pass.deletes = diff.ClusterPolicies(state.cnp.planned, state.cnp.own, mem.ClusterPolicySeen)
	pass.deletes = keepHeld(plan, state.cnp, pass.deletes)
	pass.namespaces = diff.Compute(plan, state.observed)
	o := outcome{generation: profile.Generation, plan: plan, now: metav1.NewTime(time.Now()),
		ownedByProfile: state.ownedByProfile, cnpMissing: state.cnp.wantedButMissing(profile)}
	newlyRetained := mem.NewlyRetained(plan.Retained)
	audit := render.Mode(profile) == segv1.ModeAudit
	if audit {
		o.actions = pass.all()
		o.managedPolicies = state.ownPolicies
	} else {
		if pass.namespaces, o.refused, err = r.admitPlan(ctx, mem, plan, pass.namespaces); err != nil {
			return outcome{}, failure(segv1.ReasonApplyFailed, err)
		}
		o.actions, o.writes = r.writePhases(ctx, mem, &state, plan, pass, state.cnp.networkPolicies(profile), o.now)
		o.managedPolicies = managedAfter(plan, o) - refusedWithoutPolicy(profile, plan, o.refused, state.observed)
		o.membership = membershipChanges(profile, plan, state.observed, o.actions, o.writes, newlyRetained, o.now)
		r.attributeMembership(ctx, profile, o.membership)
		rememberLabels(mem, plan, o.actions, o.writes)
		rememberClusterPolicies(mem, state.cnp, o.actions, o.writes)
	}
	o.managedClusterPolicies = managedClusterPolicies(state.cnp, o.actions, o.writes, audit)
	o.isolation = r.verifyIsolation(ctx, profile, mem, &state, o)
	o.canary = r.canaryResult(profile)
	r.report(profile, mem, o)
	r.keepBasis(profile, state.input.OtherProfiles, &state, o)
	return o, nil
}

// canaryResult is the canary's result for the profile; nil when its canary
// is off.
func (r *ProfileReconciler) canaryResult(profile *segv1.SegmentationProfile) *canaryResult {
	if !render.CanaryOn(profile) {
		return nil
	}
	if res := r.Canary.Result(profile.Name); res != nil {
		return res
	}
	return &canaryResult{pending: "the manager runs no canary (started without one)"}
}

// rememberLabels records the namespaces whose labels are in place after
// the pass: no label write was needed, or it was made.
func rememberLabels(mem *memory.Profile, plan *render.Plan, actions []diff.Action, w writeResult) {
	pending := map[string]bool{}
	for i, a := range actions {
		if a.Type == diff.ApplyLabels && !w.done(i) {
			pending[a.Namespace] = true
		}
	}
	for _, g := range plan.Governed {
		if !pending[g.Name] {
			mem.MarkLabelled(g.Name, g.Tier)
		}
	}
}

// managedAfter counts the profile's policies once the pass's writes are done.
func managedAfter(plan *render.Plan, o outcome) int32 {
	var n int32
	for _, g := range plan.Governed {
		if g.Policy != nil {
			n++
		}
	}
	for i, a := range o.actions {
		if a.Type == diff.ApplyPolicy && o.writes.pending(i) {
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

// setFinalizer adds or removes the cleanup finalizer, with the optimistic
// lock: a merge patch replaces the whole list, so without it a stale view
// would undo another controller's change to the list. A profile already
// gone needs no removal.
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
	err := r.Client.Patch(ctx, profile, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if err != nil && (want || !apierrors.IsNotFound(err)) {
		return fmt.Errorf("update finalizer of profile %s: %w", profile.Name, err)
	}
	return nil
}
