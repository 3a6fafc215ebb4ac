package controller

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/render"
)

const (
	maxConflictsListed = 20
	maxRecentDrift     = 10
	maxMessageItems    = 3
)

// outcome is what one reconcile pass planned, found and did.
type outcome struct {
	// generation is the profile's generation the plan was made from.
	generation int64
	plan       *render.Plan
	actions    []diff.Action
	// writes is what became of each action (Enforce).
	writes writeResult
	// refused are the tiers whose policy the API server refused in a dry
	// run; their namespaces were left as they are.
	refused map[string]refusal
	// membership are the tier changes the pass made.
	membership []segv1.MembershipChange
	// ownedByProfile is how many of the profile's policies the cache showed
	// with an owner reference to it.
	ownedByProfile int
	// managedPolicies is the number of managed policies of the profile after
	// the pass; managedClusterPolicies of its ClusterNetworkPolicies.
	managedPolicies        int32
	managedClusterPolicies int32
	// cnpMissing is set when the profile needs ClusterNetworkPolicies the
	// API server does not serve.
	cnpMissing bool
	isolation  isolationResult
	// canary is the canary's result; nil when it is off.
	canary *canaryResult
	now    metav1.Time
}

// computeStatus returns the profile's new status: a pure function of the
// profile the plan was made from, the status to build on (the live one when
// counters grow) and the outcome, so a pass that changes nothing returns an
// equal status and no write follows. observedGeneration is the plan's: a
// spec changed during the pass is not reported as enforced.
func computeStatus(planned *segv1.SegmentationProfile, prev segv1.SegmentationProfileStatus, o outcome) segv1.SegmentationProfileStatus {
	st := *prev.DeepCopy()
	gen := o.generation
	st.ObservedGeneration = gen
	st.GovernedNamespaces = int32(len(o.plan.Governed))
	st.ManagedPolicies = o.managedPolicies
	st.ManagedClusterNetworkPolicies = o.managedClusterPolicies
	st.Tiers = o.plan.TierCounts(planned)
	setConflicts(&st, o.plan)
	setDrift(&st, o)

	audit := render.Mode(planned) == segv1.ModeAudit
	st.PendingChanges = int32(o.writes.count(writeFailed) + o.writes.count(writeSkipped))
	if audit {
		st.PendingChanges = int32(len(o.actions))
	}

	setMembership(&st, o)

	setConflictCondition(&st, o.plan, gen)
	setDriftedCondition(&st, o, audit, gen)
	setReadyCondition(&st, o, audit, gen)
	setStalledCondition(&st, o, gen)
	setIsolation(&st, o.isolation, gen)
	setCanary(&st, o.canary, gen)
	boundStatus(&st)
	return st
}

// failedStatus is the status of a pass that ended before its outcome was
// known: Ready=False with the reason; Stalled when only a change to the
// profile can help (PlanFailed), Reconciling otherwise. The other
// conditions keep what the last complete pass found; those never reported
// yet are Unknown, so the conditions that are always present are.
func failedStatus(p *segv1.SegmentationProfile, reason string, err error) segv1.SegmentationProfileStatus {
	st := *p.Status.DeepCopy()
	gen := p.Generation
	st.ObservedGeneration = gen
	msg := render.Truncate(err.Error(), maxConditionMessage)
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: segv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: reason, Message: msg, ObservedGeneration: gen})
	if reason == segv1.ReasonPlanFailed {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: segv1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: reason, Message: msg, ObservedGeneration: gen})
		meta.RemoveStatusCondition(&st.Conditions, segv1.ConditionReconciling)
	} else {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: segv1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: reason, Message: "Retrying: " + msg, ObservedGeneration: gen})
	}
	for _, t := range []string{segv1.ConditionDrifted, segv1.ConditionConflict, segv1.ConditionIsolationVerified} {
		if meta.FindStatusCondition(st.Conditions, t) == nil {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionUnknown,
				Reason: reason, Message: "Not evaluated yet: the pass failed", ObservedGeneration: gen})
		}
	}
	boundStatus(&st)
	return st
}

// patchStatus writes the pass's status and returns the profile carrying
// it. Repairs and membership changes add to counters: they are based on the
// live status, not on a cache that may not show the previous pass's status
// write yet.
func (r *ProfileReconciler) patchStatus(ctx context.Context, planned *segv1.SegmentationProfile, o outcome) (*segv1.SegmentationProfile, error) {
	base := planned
	if len(o.writes.repairs) > 0 || len(o.membership) > 0 {
		base = &segv1.SegmentationProfile{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(planned), base); err != nil {
			return nil, fmt.Errorf("read profile %s: %w", planned.Name, err)
		}
	}
	return base, r.writeStatus(ctx, base, computeStatus(planned, r.currentStatus(base), o))
}

// writeStatus writes a status when it differs from the profile's, and only
// then, announcing the transitions. A cache that does not show this
// process's last status write yet (the profile still at the version it was
// written over) is compared as if it did: the same status is not written,
// nor announced, twice.
func (r *ProfileReconciler) writeStatus(ctx context.Context, profile *segv1.SegmentationProfile, st segv1.SegmentationProfileStatus) error {
	current := r.currentStatus(profile)
	if equality.Semantic.DeepEqual(current, st) {
		profile.Status = st // what the API server holds, for the caller
		return nil
	}
	r.announceTransitions(profile, current, st)
	before := profile.DeepCopy()
	over := profile.ResourceVersion
	profile.Status = st
	if err := r.Client.Status().Patch(ctx, profile, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status of profile %s: %w", profile.Name, err)
	}
	r.memory.Profile(profile.Name).WroteStatus(over, st)
	return nil
}

// currentStatus is the profile's status as the API server holds it, as far
// as this process knows: the one it last wrote while the profile read is
// still at the version that write went over (the cache lags), else the
// profile's own.
func (r *ProfileReconciler) currentStatus(profile *segv1.SegmentationProfile) segv1.SegmentationProfileStatus {
	if last, ok := r.memory.Profile(profile.Name).StatusOver(profile.ResourceVersion); ok {
		return *last
	}
	return profile.Status
}

// Schema bounds of status strings (see api/v1alpha1/status_types.go), and
// the bound Tierguard keeps condition messages under (the schema's is
// 32,768 bytes).
const (
	maxConflictMessage  = 1024
	maxLeakPorts        = 1024
	maxLeakPolicy       = 317
	maxConditionMessage = 8192
)

// boundStatus keeps every string the status carries within its schema
// bound: a status the API server refuses for its size would leave the old
// one, and with it an old IsolationVerified, in place.
func boundStatus(st *segv1.SegmentationProfileStatus) {
	for i := range st.Conditions {
		st.Conditions[i].Message = render.Truncate(st.Conditions[i].Message, maxConditionMessage)
	}
	for i := range st.Conflicts {
		st.Conflicts[i].Message = render.Truncate(st.Conflicts[i].Message, maxConflictMessage)
	}
	for i := range st.Isolation.Leaks {
		l := &st.Isolation.Leaks[i]
		if len(l.Ports) > maxLeakPorts {
			l.Ports = render.BoundList(strings.Split(l.Ports, ", "), ", ", maxLeakPorts)
		}
		l.Policy = render.Truncate(l.Policy, maxLeakPolicy)
	}
}

const maxLeaksListed = 20

// setIsolation reports the holes and IsolationVerified: True/NoLeaks or
// False/LeaksFound naming the first holes once Tierguard's policies are in
// place; Unknown/ReadFailed when the foreign policies could not be listed;
// Unknown/Evaluating while Tierguard's own policies are not all in place.
// While another pass lists some namespaces' foreign policies, the last
// verdict stands (the pass is repeated shortly).
func setIsolation(st *segv1.SegmentationProfileStatus, iso isolationResult, gen int64) {
	c := metav1.Condition{Type: segv1.ConditionIsolationVerified, ObservedGeneration: gen,
		Status: metav1.ConditionUnknown, Reason: segv1.ReasonEvaluating,
		Message: "Isolation is verified once Tierguard's policies are in place"}
	switch {
	case iso.known:
		st.Isolation.LeakCount = int32(len(iso.leaks))
		st.Isolation.Leaks = nil
		for i, l := range iso.leaks {
			if i == maxLeaksListed {
				break
			}
			st.Isolation.Leaks = append(st.Isolation.Leaks, segv1.Leak{
				FromTier: l.FromTier, FromNamespace: l.FromNamespace, To: l.To, Ports: l.Ports, Policy: l.Policy})
		}
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, segv1.ReasonNoLeaks,
			"No NetworkPolicy or ClusterNetworkPolicy allows traffic the profile forbids"
		if len(iso.leaks) > 0 {
			items := make([]string, 0, len(iso.leaks))
			for _, l := range iso.leaks {
				items = append(items, l.String())
			}
			c.Status, c.Reason = metav1.ConditionFalse, segv1.ReasonLeaksFound
			c.Message = fmt.Sprintf("%d hole(s): %s", len(iso.leaks), summarize(items))
		}
	case iso.err != nil:
		c.Reason, c.Message = segv1.ReasonReadFailed, "Foreign NetworkPolicies could not be listed: "+iso.err.Error()
	case iso.listing:
		if prev := meta.FindStatusCondition(st.Conditions, segv1.ConditionIsolationVerified); prev != nil {
			return
		}
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

func setConflicts(st *segv1.SegmentationProfileStatus, plan *render.Plan) {
	st.ConflictCount = int32(len(plan.Conflicts))
	st.Conflicts = nil
	for i, c := range plan.Conflicts {
		if i == maxConflictsListed {
			break
		}
		st.Conflicts = append(st.Conflicts, segv1.Conflict{Namespace: c.Namespace, Reason: c.Reason, Message: c.Message})
	}
}

func setDrift(st *segv1.SegmentationProfileStatus, o outcome) {
	repairs := o.writes.repairs
	if len(repairs) == 0 {
		return
	}
	st.Drift.Repairs += int64(len(repairs))
	st.Drift.LastDetectedTime = &o.now
	recent := append([]segv1.DriftRecord{}, repairs...)
	recent = append(recent, st.Drift.Recent...)
	if len(recent) > maxRecentDrift {
		recent = recent[:maxRecentDrift]
	}
	st.Drift.Recent = recent
}

func setConflictCondition(st *segv1.SegmentationProfileStatus, plan *render.Plan, gen int64) {
	c := metav1.Condition{Type: segv1.ConditionConflict, Status: metav1.ConditionFalse, Reason: segv1.ReasonNoConflicts,
		Message: "No namespace is claimed twice", ObservedGeneration: gen}
	if len(plan.Conflicts) > 0 {
		c.Status, c.Reason = metav1.ConditionTrue, segv1.ReasonConflictsFound
		c.Message = fmt.Sprintf("%d conflict(s): %s", len(plan.Conflicts), conflictSummary(plan.Conflicts))
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

// setStalledCondition: True while only a person can help: the API server
// refused a tier's policy (the profile must change), or namespaces are in
// conflict.
func setStalledCondition(st *segv1.SegmentationProfileStatus, o outcome, gen int64) {
	c := metav1.Condition{Type: segv1.ConditionStalled, Status: metav1.ConditionTrue, ObservedGeneration: gen}
	switch {
	case len(o.refused) > 0:
		c.Reason, c.Message = segv1.ReasonPolicyRefused, refusalSummary(o.refused)
	case len(o.plan.Conflicts) > 0:
		c.Reason = segv1.ReasonConflict
		c.Message = fmt.Sprintf("%d conflict(s): %s", len(o.plan.Conflicts), conflictSummary(o.plan.Conflicts))
	default:
		meta.RemoveStatusCondition(&st.Conditions, segv1.ConditionStalled)
		return
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

// refusalSummary names the tiers whose policy was refused and why.
func refusalSummary(refused map[string]refusal) string {
	tiers := slices.Sorted(maps.Keys(refused))
	items := make([]string, 0, len(tiers))
	for _, t := range tiers {
		rf := refused[t]
		items = append(items, fmt.Sprintf("tier %s (%d namespace(s) left unchanged): %v", t, rf.namespaces, rf.err))
	}
	return "The API server refused the NetworkPolicy of " + summarize(items) +
		"; nothing of these tiers was written, so no namespace is labelled without its policy"
}

func conflictSummary(cs []render.Conflict) string {
	var parts []string
	for i, c := range cs {
		if i == maxMessageItems {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-i))
			break
		}
		if c.Namespace == "" {
			parts = append(parts, fmt.Sprintf("%s: %s", c.Reason, c.Message))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s: %s", c.Namespace, c.Reason, c.Message))
		}
	}
	return strings.Join(parts, "; ")
}

// setDriftedCondition: True while something enforced differs and is not
// repaired; otherwise False, Repaired (keeping the last repair's summary) or
// NoDrift.
func setDriftedCondition(st *segv1.SegmentationProfileStatus, o outcome, audit bool, gen int64) {
	var unrepaired []string
	for i, a := range o.actions {
		if a.Drift == nil {
			continue
		}
		if audit || o.writes.pending(i) {
			unrepaired = append(unrepaired, a.Drift.String())
		}
	}
	prev := meta.FindStatusCondition(st.Conditions, segv1.ConditionDrifted)
	c := metav1.Condition{Type: segv1.ConditionDrifted, ObservedGeneration: gen}
	switch {
	case len(unrepaired) > 0:
		c.Status, c.Reason = metav1.ConditionTrue, segv1.ReasonDriftDetected
		c.Message = summarize(unrepaired) + " differ from the plan"
		if audit {
			c.Message += " (Audit mode: not repaired)"
		}
	case len(o.writes.repairs) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, segv1.ReasonRepaired
		c.Message = "Last repair: " + repairSummary(o.writes.repairs[0])
	case prev != nil && prev.Reason == segv1.ReasonRepaired:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, segv1.ReasonRepaired, prev.Message
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, segv1.ReasonNoDrift, "No drift detected"
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

func repairSummary(r segv1.DriftRecord) string {
	obj := fmt.Sprintf("%s %s", r.Kind, r.Name)
	if r.Kind == segv1.KindNetworkPolicy {
		obj = fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
	}
	who := ""
	if r.Manager != "" {
		who = " by " + r.Manager
	}
	return fmt.Sprintf("%s %s%s, repaired at %s", obj, r.Change, who, r.Time.UTC().Format("2006-01-02T15:04:05Z"))
}

func summarize(items []string) string {
	if len(items) <= maxMessageItems {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:maxMessageItems], "; "), len(items)-maxMessageItems)
}

func setReadyCondition(st *segv1.SegmentationProfileStatus, o outcome, audit bool, gen int64) {
	c := metav1.Condition{Type: segv1.ConditionReady, ObservedGeneration: gen}
	var failures []string
	for i, a := range o.actions {
		if err := o.writes.errs[i]; err != nil {
			failures = append(failures, fmt.Sprintf("%s %s: %v", a.Type, cmp.Or(a.Namespace, a.Name), err))
		}
	}
	switch {
	case o.cnpMissing:
		c.Status, c.Reason = metav1.ConditionFalse, segv1.ReasonClusterNetworkPolicyNotServed
		c.Message = fmt.Sprintf("the profile's enforcement needs ClusterNetworkPolicies, but %v; the NetworkPolicies of %d namespace(s) are kept and enforced meanwhile",
			cnpapi.ErrNotServed, len(o.plan.Governed))
	case len(o.refused) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, segv1.ReasonPolicyRefused, refusalSummary(o.refused)
	case o.plan.Blocked || len(o.plan.Conflicts) > 0 && !audit:
		c.Status, c.Reason = metav1.ConditionFalse, segv1.ReasonConflict
		c.Message = fmt.Sprintf("%d namespace(s) enforced; conflicts need attention: %s", len(o.plan.Governed), conflictSummary(o.plan.Conflicts))
	case audit:
		c.Status, c.Reason = metav1.ConditionTrue, segv1.ReasonAudited
		c.Message = fmt.Sprintf("Audit mode: %d namespace(s) governed, %d change(s) pending", len(o.plan.Governed), len(o.actions))
	case len(failures) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, segv1.ReasonApplyFailed
		c.Message = fmt.Sprintf("%d of %d write(s) failed: %s", len(failures), len(o.actions), summarize(failures))
		if n := o.writes.count(writeSkipped); n > 0 {
			c.Message += fmt.Sprintf("; %d later write(s) to the same namespaces not attempted", n)
		}
	default:
		c.Status, c.Reason = metav1.ConditionTrue, segv1.ReasonEnforced
		c.Message = fmt.Sprintf("%d namespace(s) match the plan", len(o.plan.Governed))
	}
	meta.SetStatusCondition(&st.Conditions, c)
	if len(failures) > 0 && !audit {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: segv1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: segv1.ReasonApplyFailed, Message: "Retrying failed writes", ObservedGeneration: gen})
	} else {
		meta.RemoveStatusCondition(&st.Conditions, segv1.ConditionReconciling)
	}
}
