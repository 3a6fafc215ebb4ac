// Package metrics defines Tierguard's Prometheus metrics, served on the
// manager's metrics endpoint beside controller-runtime's.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// GovernedNamespaces is the number of governed namespaces per tier.
	GovernedNamespaces = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tierguard_governed_namespaces",
		Help: "Namespaces governed by a profile, per tier.",
	}, []string{"profile", "tier"})

	// DriftRepairs counts repairs of drifted objects.
	DriftRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tierguard_drift_repairs_total",
		Help: "Repairs of enforced objects that were changed, by kind and change.",
	}, []string{"profile", "kind", "change"})

	// Conflicts is the number of conflicts of a profile.
	Conflicts = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tierguard_conflicts",
		Help: "Conflicts (namespaces claimed twice, tierLabelKey in use) of a profile.",
	}, []string{"profile"})

	// IsolationLeaks is the number of holes in a profile's isolation.
	IsolationLeaks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tierguard_isolation_leaks",
		Help: "Traffic the profile forbids that NetworkPolicies in governed namespaces allow.",
	}, []string{"profile"})

	// CanaryRounds counts the enforcement canary's rounds by result.
	CanaryRounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tierguard_canary_rounds_total",
		Help: "Rounds of a profile's enforcement canary, by result (Enforced, NotEnforced, Inconclusive).",
	}, []string{"profile", "result"})

	// CanaryLastVerified is when a canary round last found the policies
	// enforced.
	CanaryLastVerified = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tierguard_canary_last_verified_timestamp_seconds",
		Help: "Unix time of the last canary round of a profile that found every forbidden path blocked and every allowed path open.",
	}, []string{"profile"})

	// MembershipChanges counts namespaces joining, leaving and moving
	// between tiers.
	MembershipChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tierguard_membership_changes_total",
		Help: "Namespaces that joined, left, moved between or were retained after leaving a profile's tiers.",
	}, []string{"profile", "action"})

	// Passes counts passes by kind: full (every namespace planned and
	// compared) or delta (only the namespaces events touched).
	Passes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tierguard_passes_total",
		Help: "Passes over a profile, by kind: full (every namespace planned and compared) or delta (only the namespaces a drift event touched).",
	}, []string{"kind"})

	// ApplyErrors counts failed writes.
	ApplyErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tierguard_apply_errors_total",
		Help: "Writes to namespaces and NetworkPolicies that the API server refused or failed.",
	}, []string{"profile"})

	// ProfileCondition is a profile's status conditions as kube-state-metrics
	// shows a pod's: one series per condition type and status (True, False,
	// Unknown), 1 for the status the condition has and 0 for the other two.
	// Types absent from the status (Reconciling and Stalled while false)
	// have no series. Reasons are left out, so a flip changes values, never
	// the set of series: at most 6 types x 3 statuses per profile.
	ProfileCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tierguard_profile_condition",
		Help: "Status conditions of a profile as last written: 1 for the condition's status, 0 for the others.",
	}, []string{"profile", "type", "status"})

	// MemoryLookups counts the lookups of the controller's memory between
	// passes (internal/memory), by what is remembered and whether it was
	// found: a steady pass should be all hits.
	MemoryLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tierguard_memory_lookups_total",
		Help: "Lookups of what the controller remembers between passes (verified policies, accepted tier plans, leak analyses), by result: hit or miss.",
	}, []string{"memory", "result"})
)

func init() {
	crmetrics.Registry.MustRegister(GovernedNamespaces, DriftRepairs, Conflicts, IsolationLeaks, MembershipChanges, ApplyErrors, ProfileCondition, MemoryLookups, CanaryRounds, CanaryLastVerified, Passes)
}

// Forget removes the series of a deleted profile.
func Forget(profile string) {
	GovernedNamespaces.DeletePartialMatch(prometheus.Labels{"profile": profile})
	DriftRepairs.DeletePartialMatch(prometheus.Labels{"profile": profile})
	Conflicts.DeleteLabelValues(profile)
	IsolationLeaks.DeleteLabelValues(profile)
	MembershipChanges.DeletePartialMatch(prometheus.Labels{"profile": profile})
	ApplyErrors.DeleteLabelValues(profile)
	ProfileCondition.DeletePartialMatch(prometheus.Labels{"profile": profile})
	CanaryRounds.DeletePartialMatch(prometheus.Labels{"profile": profile})
	CanaryLastVerified.DeleteLabelValues(profile)
}

// conditionStatuses are the values a condition's status takes.
var conditionStatuses = []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}

// ReportConditions sets ProfileCondition from a profile's conditions and
// deletes the series of the types among known that it no longer has.
func ReportConditions(profile string, known []string, conditions []metav1.Condition) {
	for _, t := range known {
		c := meta.FindStatusCondition(conditions, t)
		for _, s := range conditionStatuses {
			switch {
			case c == nil:
				ProfileCondition.DeleteLabelValues(profile, t, string(s))
			case c.Status == s:
				ProfileCondition.WithLabelValues(profile, t, string(s)).Set(1)
			default:
				ProfileCondition.WithLabelValues(profile, t, string(s)).Set(0)
			}
		}
	}
}
