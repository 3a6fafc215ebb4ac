package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

var statusNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(statusNow.Add(-d)) }

// statusProfile is a profile as the controller reports it after repairing
// drift, with a conflict and a leak.
func statusProfile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "company", Generation: 3},
		Spec: segv1.SegmentationProfileSpec{
			Mode: segv1.ModeEnforce,
			Tiers: []segv1.Tier{
				{Name: "dev", Isolation: segv1.IsolationTier, Assignment: segv1.AssignmentSelfService},
				{Name: "test"},
				{Name: "prod", Isolation: segv1.IsolationNamespace},
			},
		},
		Status: segv1.SegmentationProfileStatus{
			ObservedGeneration: 3,
			GovernedNamespaces: 5, ManagedPolicies: 5,
			Tiers: []segv1.TierStatus{{Name: "dev", Namespaces: 2}, {Name: "test", Namespaces: 1}, {Name: "prod", Namespaces: 2}},
			Conditions: []metav1.Condition{
				{Type: segv1.ConditionReady, Status: metav1.ConditionTrue, Reason: segv1.ReasonEnforced,
					Message: "every governed namespace matches the plan", LastTransitionTime: ago(90 * time.Minute)},
				{Type: segv1.ConditionDrifted, Status: metav1.ConditionFalse, Reason: segv1.ReasonRepaired,
					Message: "drift was repaired", LastTransitionTime: ago(5 * time.Minute)},
				{Type: segv1.ConditionConflict, Status: metav1.ConditionTrue, Reason: segv1.ReasonConflictsFound,
					Message: "1 namespace\nclaimed twice", LastTransitionTime: ago(48 * time.Hour)},
				{Type: segv1.ConditionIsolationVerified, Status: metav1.ConditionFalse, Reason: segv1.ReasonLeaksFound,
					Message: "a policy allows traffic the profile forbids", LastTransitionTime: ago(30 * time.Second)},
			},
			Conflicts: []segv1.Conflict{{Namespace: "both", Reason: segv1.ConflictMultipleTiers,
				Message: "matched by tiers dev and test; left ungoverned"}},
			ConflictCount: 1,
			Drift: segv1.DriftStatus{
				Repairs: 12, LastDetectedTime: ptrTime(ago(5 * time.Minute)),
				Recent: []segv1.DriftRecord{
					{Time: ago(5 * time.Minute), Namespace: "shop-prod", Kind: "NetworkPolicy", Name: "tierguard-isolation",
						Change: segv1.DriftModified, Manager: "kubectl-edit"},
					{Time: ago(3 * time.Hour), Namespace: "app-dev", Kind: "Namespace", Name: "app-dev", Change: segv1.DriftLabelRemoved},
				},
			},
			Membership: segv1.MembershipStatus{RetainedCount: 1, Retained: []string{"old-prod"}, Changes: 7,
				Recent: []segv1.MembershipChange{
					{Time: ago(2 * time.Minute), Namespace: "old-prod", From: "prod", Action: segv1.MembershipRetained},
					{Time: ago(10 * time.Minute), Namespace: "app-dev", From: "dev", To: "test", Action: segv1.MembershipMoved, Manager: "argocd-controller"},
				}},
			Isolation: segv1.IsolationStatus{LeakCount: 3, Leaks: []segv1.Leak{
				{FromTier: "dev", To: "billing-prod", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "billing-prod/allow-all"},
				{FromNamespace: "default", To: "billing-prod", Ports: "TCP/all, UDP/all, SCTP/all", Policy: "billing-prod/allow-all"},
			}},
		},
	}
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

func TestWriteStatus(t *testing.T) {
	var out strings.Builder
	if err := WriteStatus(&out, statusProfile(), statusNow); err != nil {
		t.Fatal(err)
	}
	want := `Name:       company
Mode:       Enforce
Generation: 3
Boundaries: enforced by NetworkPolicy
Namespaces: 5 governed, 5 managed NetworkPolicies
Tiers:
  TIER  NAMESPACES  ISOLATION  ASSIGNMENT
  dev   2           Tier       SelfService
  test  1           Tier       Restricted
  prod  2           Namespace  Restricted
Conditions:
  TYPE               STATUS  REASON          AGE  MESSAGE
  Ready              True    Enforced        90m  every governed namespace matches the plan
  Drifted            False   Repaired        5m   drift was repaired
  Conflict           True    ConflictsFound  2d   1 namespace claimed twice
  IsolationVerified  False   LeaksFound      30s  a policy allows traffic the profile forbids
Drift:      12 repairs, last detected 5m ago
  AGE  NAMESPACE  OBJECT                             CHANGE        BY
  5m   shop-prod  NetworkPolicy/tierguard-isolation  Modified      kubectl-edit
  3h   app-dev    Namespace/app-dev                  LabelRemoved  (unknown)
  ... and 10 more
Membership: 7 changes; 1 retained after leaving: old-prod
  AGE  NAMESPACE  ACTION    FROM  TO    BY
  2m   old-prod   Retained  prod  -     (unknown)
  10m  app-dev    Moved     dev   test  argocd-controller
  ... and 5 more
Conflicts:  1
  NAMESPACE  REASON         MESSAGE
  both       MultipleTiers  matched by tiers dev and test; left ungoverned
Leaks:      3
  FROM               TO            PORTS                       POLICY
  tier dev           billing-prod  TCP/all, UDP/all, SCTP/all  billing-prod/allow-all
  namespace default  billing-prod  TCP/all, UDP/all, SCTP/all  billing-prod/allow-all
  ... and 1 more
Canary:     off (spec.canary)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestWriteStatusBeforeReconcile: a profile Tierguard has not reported on,
// in Audit mode, with a tier missing from the status.
func TestWriteStatusBeforeReconcile(t *testing.T) {
	p := &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "audit", Generation: 1},
		Spec:       segv1.SegmentationProfileSpec{Mode: segv1.ModeAudit, Tiers: []segv1.Tier{{Name: "dev"}}},
	}
	var out strings.Builder
	if err := WriteStatus(&out, p, statusNow); err != nil {
		t.Fatal(err)
	}
	want := `Name:       audit
Mode:       Audit
Generation: 1 (Tierguard has not reported on this profile yet)
Boundaries: enforced by NetworkPolicy
Namespaces: 0 governed, 0 managed NetworkPolicies
Pending:    0 changes Enforce would make
Tiers:
  TIER  NAMESPACES  ISOLATION  ASSIGNMENT
  dev   -           Tier       Restricted
Conditions: none
Drift:      none
Membership: no changes
Conflicts:  none
Leaks:      none
Canary:     off (spec.canary)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteStatusStaleAndUnverified(t *testing.T) {
	p := statusProfile()
	p.Generation = 4
	p.Status.Conditions[3] = metav1.Condition{Type: segv1.ConditionIsolationVerified, Status: metav1.ConditionUnknown,
		Reason: segv1.ReasonEvaluating, LastTransitionTime: ago(time.Minute)}
	var out strings.Builder
	if err := WriteStatus(&out, p, statusNow); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"Generation: 4 (the status describes generation 3: Tierguard has not caught up)\n",
		"Leaks:      not verified yet (Evaluating)\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
	if strings.Contains(out.String(), "billing-prod/allow-all") {
		t.Errorf("leaks listed while unverified:\n%s", out.String())
	}
}

// TestWriteStatusClusterNetworkPolicy: the enforcement and the managed
// ClusterNetworkPolicies are shown.
func TestWriteStatusClusterNetworkPolicy(t *testing.T) {
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company", Generation: 1},
		Spec:   segv1.SegmentationProfileSpec{Enforcement: segv1.EnforcementClusterNetworkPolicy},
		Status: segv1.SegmentationProfileStatus{ObservedGeneration: 1, GovernedNamespaces: 5, ManagedClusterNetworkPolicies: 4}}
	var b strings.Builder
	if err := WriteStatus(&b, p, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Boundaries: enforced by ClusterNetworkPolicy\n",
		"Namespaces: 5 governed, 0 managed NetworkPolicies, 4 managed ClusterNetworkPolicies\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

// TestWriteStatusCanary prints the canary's rounds and what decided a
// failed one.
func TestWriteStatusCanary(t *testing.T) {
	p := statusProfile()
	p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: time.Minute}}
	verified := ago(3 * time.Minute)
	p.Status.Canary = &segv1.CanaryStatus{LastVerifiedTime: &verified, Rounds: []segv1.CanaryRound{
		{Time: ago(time.Minute), Result: segv1.CanaryNotEnforced, Paths: []segv1.CanaryPath{
			{From: "test", To: "dev", Protocol: "TCP", Port: 8080, Open: true, Node: "n1"},
			{From: "shared", To: "dev", Protocol: "TCP", Port: 8080, Allowed: true, Open: true, Node: "n1"},
		}},
		{Time: verified, Result: segv1.CanaryEnforced, Paths: []segv1.CanaryPath{
			{From: "test", To: "dev", Protocol: "TCP", Port: 8080, Node: "n1"},
			{From: "shared", To: "dev", Protocol: "TCP", Port: 8080, Allowed: true, Open: true, Node: "n1"},
		}},
	}}
	var b strings.Builder
	if err := WriteStatus(&b, p, statusNow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Canary:     every 1m0s, last verified 3m ago",
		"60s  NotEnforced  0/1      1/1   n1     test -> dev TCP/8080 open",
		"3m   Enforced     1/1      1/1   n1",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
