package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/render"
)

func statusProfile(mode segv1.Mode) *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company", Generation: 3},
		Spec: segv1.SegmentationProfileSpec{Mode: mode, Tiers: []segv1.Tier{{Name: "dev"}, {Name: "prod"}}}}
}

func statusPlan() *render.Plan {
	return &render.Plan{Profile: "company", Governed: []render.GovernedNamespace{{Name: "dev-a", Tier: "dev"}, {Name: "prod-a", Tier: "prod"}}}
}

var (
	driftAction = diff.Action{Type: diff.ApplyPolicy, Namespace: "dev-a",
		Drift: &drift.Finding{Kind: segv1.KindNetworkPolicy, Namespace: "dev-a", Name: render.PolicyName, Change: segv1.DriftModified}}
	labelAction = diff.Action{Type: diff.ApplyLabels, Namespace: "prod-a"}
	now         = metav1.NewTime(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
)

func cond(st segv1.SegmentationProfileStatus, t string) string {
	c := meta.FindStatusCondition(st.Conditions, t)
	if c == nil {
		return "absent"
	}
	return string(c.Status) + "/" + c.Reason
}

// TestComputeStatus covers the conditions a pass reports, one outcome per
// row, as Cluster API's status tests do.
func TestComputeStatus(t *testing.T) {
	repaired := segv1.DriftRecord{Time: now, Namespace: "dev-a", Kind: segv1.KindNetworkPolicy, Name: render.PolicyName,
		Change: segv1.DriftModified, Manager: "kubectl-edit"}
	for _, tc := range []struct {
		name     string
		mode     segv1.Mode
		prev     segv1.SegmentationProfileStatus
		o        func(o *outcome)
		want     map[string]string // condition type -> Status/Reason
		pending  int32
		contains map[string]string // condition type -> message part
	}{
		{name: "enforced", o: func(o *outcome) { o.isolation = isolationResult{known: true} },
			want: map[string]string{segv1.ConditionReady: "True/Enforced", segv1.ConditionDrifted: "False/NoDrift",
				segv1.ConditionConflict: "False/NoConflicts", segv1.ConditionIsolationVerified: "True/NoLeaks",
				segv1.ConditionReconciling: "absent", segv1.ConditionStalled: "absent"}},
		{name: "a write failed, the next to its namespace not attempted", o: func(o *outcome) {
			o.actions = []diff.Action{labelAction, {Type: diff.ApplyPolicy, Namespace: "prod-a"}}
			o.writes = writeResult{states: []writeState{writeFailed, writeSkipped}, errs: map[int]error{0: errors.New("refused")}}
		}, pending: 2,
			want: map[string]string{segv1.ConditionReady: "False/ApplyFailed", segv1.ConditionReconciling: "True/ApplyFailed",
				segv1.ConditionIsolationVerified: "Unknown/Evaluating"},
			contains: map[string]string{segv1.ConditionReady: "1 of 2 write(s) failed: ApplyLabels prod-a: refused; 1 later write(s)"}},
		{name: "a drift repair failed", o: func(o *outcome) {
			o.actions = []diff.Action{driftAction}
			o.writes = writeResult{states: []writeState{writeFailed}, errs: map[int]error{0: errors.New("refused")}}
		}, pending: 1,
			want: map[string]string{segv1.ConditionDrifted: "True/DriftDetected", segv1.ConditionReady: "False/ApplyFailed"}},
		{name: "a drift repaired", o: func(o *outcome) {
			o.actions = []diff.Action{driftAction}
			o.writes = writeResult{states: []writeState{writeChanged}, repairs: []segv1.DriftRecord{repaired}}
		}, want: map[string]string{segv1.ConditionDrifted: "False/Repaired", segv1.ConditionReady: "True/Enforced"},
			contains: map[string]string{segv1.ConditionDrifted: "by kubectl-edit"}},
		{name: "a repair's summary stays in later passes",
			prev: segv1.SegmentationProfileStatus{Conditions: []metav1.Condition{{Type: segv1.ConditionDrifted,
				Status: metav1.ConditionFalse, Reason: segv1.ReasonRepaired, Message: "Last repair: earlier"}}},
			want: map[string]string{segv1.ConditionDrifted: "False/Repaired"}, contains: map[string]string{segv1.ConditionDrifted: "earlier"}},
		{name: "a stale write is retried without a failure", o: func(o *outcome) {
			o.actions = []diff.Action{labelAction}
			o.writes = writeResult{states: []writeState{writeStale}}
		}, want: map[string]string{segv1.ConditionReady: "True/Enforced", segv1.ConditionReconciling: "absent"}},
		{name: "audit: drift found, not repaired", mode: segv1.ModeAudit, o: func(o *outcome) { o.actions = []diff.Action{driftAction, labelAction} },
			pending: 2, want: map[string]string{segv1.ConditionReady: "True/Audited", segv1.ConditionDrifted: "True/DriftDetected"},
			contains: map[string]string{segv1.ConditionDrifted: "Audit mode: not repaired"}},
		{name: "conflicts", o: func(o *outcome) {
			o.plan.Conflicts = []render.Conflict{{Namespace: "x", Reason: segv1.ConflictMultipleTiers, Message: "dev and prod"}}
		}, want: map[string]string{segv1.ConditionReady: "False/Conflict", segv1.ConditionConflict: "True/ConflictsFound",
			segv1.ConditionStalled: "True/Conflict"}},
		{name: "audit with conflicts stays Ready", mode: segv1.ModeAudit, o: func(o *outcome) {
			o.plan.Conflicts = []render.Conflict{{Namespace: "x", Reason: segv1.ConflictMultipleTiers, Message: "dev and prod"}}
		}, want: map[string]string{segv1.ConditionReady: "True/Audited", segv1.ConditionStalled: "True/Conflict"}},
		{name: "a refused tier policy", o: func(o *outcome) {
			o.refused = map[string]refusal{"prod": {err: errors.New("spec.ingress: Invalid"), namespaces: 1}}
		}, want: map[string]string{segv1.ConditionReady: "False/PolicyRefused", segv1.ConditionStalled: "True/PolicyRefused"},
			contains: map[string]string{segv1.ConditionReady: "tier prod (1 namespace(s) left unchanged)"}},
		{name: "leaks", o: func(o *outcome) {
			o.isolation = isolationResult{known: true, leaks: []leaks.Leak{{FromTier: "dev", To: "prod-a", Ports: "TCP/22", Policy: "prod-a/allow-ssh"}}}
		}, want: map[string]string{segv1.ConditionIsolationVerified: "False/LeaksFound"},
			contains: map[string]string{segv1.ConditionIsolationVerified: "prod-a/allow-ssh"}},
		{name: "foreign policies unreadable", o: func(o *outcome) { o.isolation = isolationResult{err: errors.New("forbidden")} },
			want:     map[string]string{segv1.ConditionIsolationVerified: "Unknown/ReadFailed", segv1.ConditionReady: "True/Enforced"},
			contains: map[string]string{segv1.ConditionIsolationVerified: "forbidden"}},
		{name: "while another pass lists, the last verdict stands",
			prev: segv1.SegmentationProfileStatus{Conditions: []metav1.Condition{{Type: segv1.ConditionIsolationVerified,
				Status: metav1.ConditionFalse, Reason: segv1.ReasonLeaksFound, Message: "1 hole(s)"}}},
			o:    func(o *outcome) { o.isolation = isolationResult{listing: true} },
			want: map[string]string{segv1.ConditionIsolationVerified: "False/LeaksFound"}},
		{name: "while listing with no verdict yet: Evaluating", o: func(o *outcome) { o.isolation = isolationResult{listing: true} },
			want: map[string]string{segv1.ConditionIsolationVerified: "Unknown/Evaluating"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = segv1.ModeEnforce
			}
			p := statusProfile(mode)
			o := outcome{generation: p.Generation, plan: statusPlan(), now: now}
			if tc.o != nil {
				tc.o(&o)
			}
			st := computeStatus(p, tc.prev, o)
			for typ, want := range tc.want {
				if got := cond(st, typ); got != want {
					t.Errorf("%s = %s, want %s", typ, got, want)
				}
			}
			for typ, part := range tc.contains {
				if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || !strings.Contains(c.Message, part) {
					t.Errorf("%s message %v does not contain %q", typ, c, part)
				}
			}
			if st.PendingChanges != tc.pending {
				t.Errorf("pendingChanges = %d, want %d", st.PendingChanges, tc.pending)
			}
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", st.ObservedGeneration)
			}
			for _, c := range st.Conditions {
				// A verdict kept while another pass lists keeps its generation.
				kept := len(tc.prev.Conditions) > 0 && c.Type == tc.prev.Conditions[0].Type
				if c.ObservedGeneration != 3 && !kept {
					t.Errorf("%s observedGeneration = %d, want 3", c.Type, c.ObservedGeneration)
				}
			}
			// A second pass with the same outcome changes nothing (no write),
			// unless it repaired again.
			if again := computeStatus(p, st, o); len(o.writes.repairs) == 0 && !equality.Semantic.DeepEqual(again, st) {
				t.Errorf("a repeated pass changes the status:\n%+v\n%+v", st, again)
			}
		})
	}
}

// TestComputeStatusCounters: repairs and membership changes add to the
// counters of the status they are based on.
func TestComputeStatusCounters(t *testing.T) {
	p := statusProfile(segv1.ModeEnforce)
	prev := segv1.SegmentationProfileStatus{Drift: segv1.DriftStatus{Repairs: 4}, Membership: segv1.MembershipStatus{Changes: 2}}
	o := outcome{generation: 3, plan: statusPlan(), now: now,
		writes:     writeResult{repairs: []segv1.DriftRecord{{Time: now, Namespace: "dev-a", Kind: segv1.KindNamespace, Name: "dev-a", Change: segv1.DriftLabelRemoved}}},
		membership: []segv1.MembershipChange{{Time: now, Namespace: "prod-a", To: "prod", Action: segv1.MembershipJoined}}}
	st := computeStatus(p, prev, o)
	if st.Drift.Repairs != 5 || len(st.Drift.Recent) != 1 || st.Drift.LastDetectedTime == nil {
		t.Fatalf("drift: %+v", st.Drift)
	}
	if st.Membership.Changes != 3 || len(st.Membership.Recent) != 1 {
		t.Fatalf("membership: %+v", st.Membership)
	}
}

func TestFailedStatus(t *testing.T) {
	enforced := computeStatus(statusProfile(segv1.ModeEnforce), segv1.SegmentationProfileStatus{},
		outcome{generation: 3, plan: statusPlan(), now: now, isolation: isolationResult{known: true}})
	for _, tc := range []struct {
		name   string
		prev   segv1.SegmentationProfileStatus
		reason string
		want   map[string]string
	}{
		{name: "read failed after an enforced pass: the domain conditions stand", prev: enforced, reason: segv1.ReasonReadFailed,
			want: map[string]string{segv1.ConditionReady: "False/ReadFailed", segv1.ConditionReconciling: "True/ReadFailed",
				segv1.ConditionStalled: "absent", segv1.ConditionIsolationVerified: "True/NoLeaks", segv1.ConditionDrifted: "False/NoDrift"}},
		{name: "plan failed on the first pass: stalled, every condition present", reason: segv1.ReasonPlanFailed,
			want: map[string]string{segv1.ConditionReady: "False/PlanFailed", segv1.ConditionStalled: "True/PlanFailed",
				segv1.ConditionReconciling: "absent", segv1.ConditionIsolationVerified: "Unknown/PlanFailed",
				segv1.ConditionDrifted: "Unknown/PlanFailed", segv1.ConditionConflict: "Unknown/PlanFailed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := statusProfile(segv1.ModeEnforce)
			p.Status = tc.prev
			st := failedStatus(p, tc.reason, errors.New("selector: invalid value 50%"))
			for typ, want := range tc.want {
				if got := cond(st, typ); got != want {
					t.Errorf("%s = %s, want %s", typ, got, want)
				}
			}
			if c := meta.FindStatusCondition(st.Conditions, segv1.ConditionReady); !strings.Contains(c.Message, "50%") {
				t.Errorf("Ready message %q lost the error", c.Message)
			}
		})
	}
}
