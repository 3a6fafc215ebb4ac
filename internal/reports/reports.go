// Package reports turns what a pass found into OpenReports
// (openreports.io/v1alpha1), where Policy Reporter and other tools already
// look: one ClusterReport per profile and one Report per governed
// namespace, with results a person can act on (isolation verified or the
// holes with the policy that opens each, recent drift repairs and who made
// them, conflicts, readiness and the enforcement mode). It is pure, and
// deterministic: a pass that finds the same builds equal reports, with
// timestamps taken from the findings (a condition's transition, a repair's
// time), never from the clock, so nothing is written in steady state.
package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/render"
)

const (
	// Source names Tierguard as the reports' source.
	Source = "tierguard"
	// MaxResults bounds the results of one report: the first are kept and
	// a last one says how many were left out.
	MaxResults = 50

	// RuleReady reports the profile's Ready condition.
	RuleReady = "ready"
	// RuleEnforcement names what enforces the boundaries, and the mode.
	RuleEnforcement = "enforcement"
	// RuleTier gives a namespace's tier.
	RuleTier = "tier"
	// RuleIsolation passes, or fails once per hole.
	RuleIsolation = "isolation"
	// RuleConflicts passes, or fails once per conflict.
	RuleConflicts = "conflicts"
	// RuleDrift warns once per recent repair.
	RuleDrift = "drift"
)

// Input is what a pass found, for one profile.
type Input struct {
	// Profile carries the status the pass wrote, and a UID (the reports are
	// owned by it, so they go with it).
	Profile *segv1.SegmentationProfile
	Plan    *render.Plan
	// IsolationKnown says the leak analysis ran; Leaks are then every hole
	// found (status lists at most 20).
	IsolationKnown bool
	Leaks          []leaks.Leak
}

// Name is the name of every report of a profile.
func Name(profile string) string { return "tierguard-" + profile }

// policy is the policy every result names: the profile.
func policy(p *segv1.SegmentationProfile) string { return "segmentationprofile/" + p.Name }

// ClusterReport is the profile's report.
func ClusterReport(in Input) orv1.ClusterReport {
	p := in.Profile
	var results []orv1.ReportResult
	ready := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionReady)
	results = append(results, conditionResult(p, RuleReady, ready, orv1.ResultSeverity("high")))
	results = append(results, orv1.ReportResult{Source: Source, Policy: policy(p), Rule: RuleEnforcement, Result: "pass",
		Severity: "info", Timestamp: timestamp(ready),
		Description: fmt.Sprintf("tier boundaries enforced by %s in %s mode", render.Enforcement(p), render.Mode(p)),
		Properties:  map[string]string{"enforcement": string(render.Enforcement(p)), "mode": string(render.Mode(p))}})
	results = append(results, isolationResults(in, func(leaks.Leak) bool { return true })...)
	iso := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionConflict)
	if len(p.Status.Conflicts) == 0 {
		results = append(results, orv1.ReportResult{Source: Source, Policy: policy(p), Rule: RuleConflicts, Result: "pass",
			Severity: "medium", Timestamp: timestamp(iso), Description: "no namespace is claimed twice"})
	}
	for _, c := range p.Status.Conflicts {
		results = append(results, orv1.ReportResult{Source: Source, Policy: policy(p), Rule: RuleConflicts, Result: "fail",
			Severity: "medium", Timestamp: timestamp(iso), Description: cmp.Or(c.Message, string(c.Reason)),
			Properties: map[string]string{"namespace": c.Namespace, "reason": string(c.Reason)}})
	}
	results = append(results, driftResults(p, func(segv1.DriftRecord) bool { return true })...)
	r := orv1.ClusterReport{
		TypeMeta:   metav1.TypeMeta{APIVersion: orv1.SchemeGroupVersion.String(), Kind: "ClusterReport"},
		ObjectMeta: meta1(p, ""),
		Source:     Source,
		Scope: &corev1.ObjectReference{APIVersion: segv1.GroupVersion.String(), Kind: "SegmentationProfile",
			Name: p.Name, UID: p.UID},
	}
	r.Results, r.Summary = bound(results)
	return r
}

// NamespaceReports are the reports of the governed namespaces, sorted by
// namespace.
func NamespaceReports(in Input) []orv1.Report {
	p := in.Profile
	out := make([]orv1.Report, 0, len(in.Plan.Governed))
	for _, g := range in.Plan.Governed {
		iso := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionIsolationVerified)
		isolation := "namespace"
		if t := tierOf(p, g.Tier); t != nil && t.Isolation != segv1.IsolationNamespace {
			isolation = "tier"
		}
		results := []orv1.ReportResult{{Source: Source, Policy: policy(p), Rule: RuleTier, Result: "pass", Severity: "info",
			Timestamp:   timestamp(iso),
			Description: fmt.Sprintf("in tier %s of profile %s, isolated per %s, boundaries enforced by %s", g.Tier, p.Name, isolation, render.Enforcement(p)),
			Properties:  map[string]string{"tier": g.Tier, "isolation": isolation, "enforcement": string(render.Enforcement(p))}}}
		ns := g.Name
		results = append(results, isolationResults(in, func(l leaks.Leak) bool { return l.To == ns })...)
		results = append(results, driftResults(p, func(d segv1.DriftRecord) bool { return d.Namespace == ns })...)
		r := orv1.Report{
			TypeMeta:   metav1.TypeMeta{APIVersion: orv1.SchemeGroupVersion.String(), Kind: "Report"},
			ObjectMeta: meta1(p, ns),
			Source:     Source,
			Scope:      &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns},
		}
		r.Results, r.Summary = bound(results)
		out = append(out, r)
	}
	return out
}

func tierOf(p *segv1.SegmentationProfile, name string) *segv1.Tier {
	for i := range p.Spec.Tiers {
		if string(p.Spec.Tiers[i].Name) == name {
			return &p.Spec.Tiers[i]
		}
	}
	return nil
}

// meta1 is the metadata of a report: Tierguard's labels and an owner
// reference to the profile, so the garbage collector removes the reports
// with it.
func meta1(p *segv1.SegmentationProfile, namespace string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: Name(p.Name), Namespace: namespace,
		Labels: map[string]string{render.ManagedByLabel: render.ManagedByValue, render.ProfileLabel: p.Name}}
	if p.UID != "" {
		m.OwnerReferences = []metav1.OwnerReference{render.OwnerReference(p)}
	}
	return m
}

// isolationResults are one pass, or a fail per hole that keep selects;
// skip while the analysis has not run.
func isolationResults(in Input, keep func(leaks.Leak) bool) []orv1.ReportResult {
	p := in.Profile
	iso := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionIsolationVerified)
	if !in.IsolationKnown {
		msg := "isolation not verified yet"
		if iso != nil && iso.Message != "" {
			msg = iso.Message
		}
		return []orv1.ReportResult{{Source: Source, Policy: policy(p), Rule: RuleIsolation, Result: "skip", Severity: "high",
			Timestamp: timestamp(iso), Description: msg}}
	}
	var out []orv1.ReportResult
	for _, l := range in.Leaks {
		if !keep(l) {
			continue
		}
		out = append(out, orv1.ReportResult{Source: Source, Policy: policy(p), Rule: RuleIsolation, Result: "fail", Severity: "high",
			Timestamp: timestamp(iso), Description: l.String(),
			Properties: map[string]string{"source": l.Source(), "to": l.To, "ports": l.Ports, "openedBy": l.Policy}})
	}
	if len(out) == 0 {
		out = append(out, orv1.ReportResult{Source: Source, Policy: policy(p), Rule: RuleIsolation, Result: "pass", Severity: "high",
			Timestamp: timestamp(iso), Description: "no policy allows traffic the profile forbids"})
	}
	return out
}

// driftResults are a warning per recent repair that keep selects.
func driftResults(p *segv1.SegmentationProfile, keep func(segv1.DriftRecord) bool) []orv1.ReportResult {
	var out []orv1.ReportResult
	for _, d := range p.Status.Drift.Recent {
		if !keep(d) {
			continue
		}
		who := cmp.Or(d.Manager, "unknown")
		obj := string(d.Kind) + " " + d.Name
		if d.Kind == segv1.KindNetworkPolicy {
			obj = string(d.Kind) + " " + d.Namespace + "/" + d.Name
		}
		out = append(out, orv1.ReportResult{Source: Source, Policy: policy(p), Rule: RuleDrift, Result: "warn", Severity: "medium",
			Timestamp:   metav1.Timestamp{Seconds: d.Time.Unix()},
			Description: fmt.Sprintf("%s %s by %s, repaired", obj, d.Change, who),
			Properties:  map[string]string{"kind": string(d.Kind), "name": d.Name, "change": string(d.Change), "manager": d.Manager}})
	}
	return out
}

func conditionResult(p *segv1.SegmentationProfile, rule string, c *metav1.Condition, severity orv1.ResultSeverity) orv1.ReportResult {
	r := orv1.ReportResult{Source: Source, Policy: policy(p), Rule: rule, Severity: severity, Timestamp: timestamp(c)}
	switch {
	case c == nil:
		r.Result, r.Description = "skip", "not reported yet"
	case c.Status == metav1.ConditionTrue:
		r.Result, r.Description = "pass", c.Message
	default:
		r.Result, r.Description = "fail", c.Reason+": "+c.Message
	}
	if c != nil {
		r.Properties = map[string]string{"reason": c.Reason}
	}
	return r
}

// timestamp is when a condition last flipped (zero without one).
func timestamp(c *metav1.Condition) metav1.Timestamp {
	if c == nil {
		return metav1.Timestamp{}
	}
	return metav1.Timestamp{Seconds: c.LastTransitionTime.Unix()}
}

// bound keeps at most MaxResults results, sorted by rule then message, the
// last saying how many were left out, and counts them.
func bound(results []orv1.ReportResult) ([]orv1.ReportResult, orv1.ReportSummary) {
	slices.SortStableFunc(results, func(a, b orv1.ReportResult) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Description, b.Description))
	})
	if len(results) > MaxResults {
		left := len(results) - (MaxResults - 1)
		results = append(results[:MaxResults-1:MaxResults-1], orv1.ReportResult{Source: Source, Policy: results[0].Policy,
			Rule: "truncated", Result: "skip", Severity: "info",
			Description: strconv.Itoa(left) + " more results not listed: see the profile's status and kubectl segmentation status"})
	}
	var s orv1.ReportSummary
	for _, r := range results {
		switch r.Result {
		case "pass":
			s.Pass++
		case "fail":
			s.Fail++
		case "warn":
			s.Warn++
		case "error":
			s.Error++
		case "skip":
			s.Skip++
		}
	}
	return results, s
}
