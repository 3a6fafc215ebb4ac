package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// EditRun is the profile edits at one scale, on a fresh plane with the
// ClusterNetworkPolicy CRD.
type EditRun struct {
	// Namespaces is N, the governed namespaces.
	Namespaces int `json:"namespaces"`
	// RawConcurrency is the raw client's writes in flight.
	RawConcurrency int `json:"rawConcurrency"`
	// AuditReadySeconds is from the Audit-mode profile's creation to
	// Ready=True; AuditWrites the manager's writes from its start until it
	// settled (no label, no policy expected).
	AuditReadySeconds float64 `json:"auditReadySeconds"`
	AuditWrites       Writes  `json:"auditWrites"`
	// Edits are the edits, in the order made.
	Edits []EditResult `json:"edits"`
	// ScenarioSeconds is what the scenario took, plane included.
	ScenarioSeconds float64 `json:"scenarioSeconds"`
}

// EditResult is one edit by the manager and the raw client.
type EditResult struct {
	// Edit says what changed in the profile.
	Edit string `json:"edit"`
	// Changed counts the objects the renderer's plans differ in, by kind
	// (labels, policy, policy delete, cnp, cnp delete).
	Changed      map[string]int `json:"changed"`
	ChangedTotal int            `json:"changedTotal"`
	// ManagerSeconds is from the profile patch returning until the watch
	// shows every changed object as planned; ManagerReadySeconds until
	// Ready=True for the new generation.
	ManagerSeconds      float64 `json:"managerSeconds"`
	ManagerReadySeconds float64 `json:"managerReadySeconds"`
	// ManagerWrites are the manager's writes until it settled; Passes its
	// reconciles.
	ManagerWrites Writes `json:"managerWrites"`
	Passes        Passes `json:"passes"`
	// RawSeconds is from the raw client's first write of the changed
	// objects until the watch shows them as planned; RawWrites its writes.
	RawSeconds float64 `json:"rawSeconds"`
	RawWrites  Writes  `json:"rawWrites"`
	// Ratio is ManagerSeconds / RawSeconds.
	Ratio float64 `json:"ratio"`
}

// scenariosSection renders the user scenarios.
func scenariosSection(b *strings.Builder, r *Results) {
	s := r.Scenarios
	if s == nil {
		return
	}
	for _, e := range s.Edits {
		editsSection(b, e)
	}
	if len(s.AppPolicies) > 0 {
		appPoliciesSection(b, s.AppPolicies)
	}
	if s.ManyProfiles != nil {
		manyProfilesSection(b, s.ManyProfiles, r.Scales)
	}
}

func editsSection(b *strings.Builder, e *EditRun) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Profile edits, N = %s\n\n", thousands(e.Namespaces))
	w("One fresh plane with the ClusterNetworkPolicy CRD (scenario %.0f s). The sample profile is created in Audit mode: Ready after %.2f s, the manager's state writes until settled: %s. ",
		e.ScenarioSeconds, e.AuditReadySeconds, writesText(e.AuditWrites))
	w("Then the edits, in this order, each on the state the previous left. Objects changed: the objects whose labels, policy or ClusterNetworkPolicy the renderer's plans before and after differ in. ")
	w("Manager: from the profile patch returning until the watch shows every changed object as planned (Ready for the new generation in brackets); its writes until settled. ")
	w("Raw: once the manager's edits are done, the manager is stopped, the plane reset to the Audit state, and the raw client (%d writes in flight) makes exactly the writes of each changed object in turn (labels applied, objects applied or deleted), timed the same way.\n\n", e.RawConcurrency)
	w("| Edit | objects changed | manager (s) | manager writes | reconciles | raw (s) | raw writes | manager / raw |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range e.Edits {
		w("| %s | %d (%s) | %.2f (%.2f) | %d (%s) | %.0f | %.2f | %d | %s |\n", r.Edit, r.ChangedTotal, countsText(r.Changed),
			r.ManagerSeconds, r.ManagerReadySeconds, r.ManagerWrites.StateTotal, writesText(r.ManagerWrites), r.Passes.Count,
			r.RawSeconds, r.RawWrites.StateTotal, ratioText(r.Ratio))
	}
	w("\n")
}

func appPoliciesSection(b *strings.Builder, cs []*AppPolicyComparison) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Applications' own NetworkPolicies\n\n")
	w("Each scale runs twice, each on a fresh plane: without, then with 1 + i%%3 application NetworkPolicies in governed namespace i (web admits the frontend on 8080, the database admits web on 5432, workers may reach 10.20.0.0/16 except 10.20.5.0/24 on 443), created before the manager starts. ")
	w("Cold start: manager start to Ready and every namespace enforced. Isolation: manager start until IsolationVerified is True or False for the generation (the leak analysis over Tierguard's and the applications' policies). ")
	w("Forced pass: the profile annotated; from the patch until the manager's reconcile count moves (scraped every 10 ms), and the mean duration of the reconciles until settled. Reconcile p50 / p99: upper bounds of the histogram buckets over the whole run.\n\n")
	w("| N | app policies | T_cold (s) | isolation verified (s) | result | forced pass seen (s) | forced pass reconciles, mean (ms) | forced pass state writes | reconciles: count, mean (ms), p50 / p99 <= (s) | peak RSS (MiB) | scenario (s) |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cs {
		for _, r := range []AppPolicyRun{c.Without, c.With} {
			mean := 0.0
			if r.Reconciles.Count > 0 {
				mean = r.Reconciles.SumSeconds / r.Reconciles.Count * 1000
			}
			w("| %s | %d | %.2f | %.2f | %s, %d leaks | %.3f | %.0f, %.1f | %d | %.0f, %.1f, %g / %g | %.1f | %.0f |\n",
				thousands(c.Namespaces), r.AppPolicies, r.Cold.Seconds, r.IsolationSeconds, r.IsolationReason, r.LeakCount,
				r.ForcedPassSeconds, r.ForcedPasses.Count, r.ForcedPasses.MeanMs, r.ForcedWrites.StateTotal,
				r.Reconciles.Count, mean, r.Reconciles.quantileBound(0.5), r.Reconciles.quantileBound(0.99), r.Memory.PeakRSSMiB, c.ScenarioSeconds)
		}
		ratio := func(with, without float64) string {
			if without == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", with/without)
		}
		w("| %s, with / without | | %s | %s | | %s | %s | | | %s | |\n", thousands(c.Namespaces),
			ratio(c.With.Cold.Seconds, c.Without.Cold.Seconds), ratio(c.With.IsolationSeconds, c.Without.IsolationSeconds),
			ratio(c.With.ForcedPassSeconds, c.Without.ForcedPassSeconds), ratio(c.With.ForcedPasses.MeanMs, c.Without.ForcedPasses.MeanMs),
			ratio(c.With.Memory.PeakRSSMiB, c.Without.Memory.PeakRSSMiB))
	}
	w("\n")
	if last := cs[len(cs)-1]; len(last.With.ForcedPassCPUTopCum) > 0 {
		w("CPU of the forced pass with %d application policies, N = %s, %d s from just before the annotation (`-top -cum`):\n\n```\n%s\n```\n\n",
			last.With.AppPolicies, thousands(last.Namespaces), forcedPassProfile, strings.Join(last.With.ForcedPassCPUTopCum, "\n"))
	}
}

func manyProfilesSection(b *strings.Builder, c *ManyProfilesComparison, scales []Scale) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Many profiles, %d x %s namespaces\n\n", c.Many.Profiles, thousands(c.Many.NamespacesPerProfile))
	w("One manager; %d copies of the sample profile, each with its own name and tierLabelKey and its tiers selecting only its tenant's namespaces (tenant=tNN), created at once, against one such profile; each on a fresh plane (scenario %.0f s). ",
		c.Many.Profiles, c.ScenarioSeconds)
	w("Ready: manager start until every profile is Ready=True and every namespace enforced. Drift: tamperings as in the drift run, spread round robin over the profiles. A profile's pass should cost what its N namespaces cost: the drift repair at %d x N close to 1 x N's, not to %s namespaces'.\n\n",
		c.Many.Profiles, thousands(c.Many.Profiles*c.Many.NamespacesPerProfile))
	w("| Profiles x namespaces | Ready (s) | from creation (s) | state writes | peak RSS (MiB) | heap in use (MiB) | drift repair p50 / p99 / max (ms) | drift reconciles: count, per tampering, mean (ms) |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range []ManyProfilesRun{c.Many, c.One} {
		w("| %d x %s | %.2f | %.2f | %d | %.1f | %.1f | %.0f / %.0f / %.0f | %.0f, %.1f, %.1f |\n", r.Profiles, thousands(r.NamespacesPerProfile),
			r.ReadySeconds, r.FromProfilesSeconds, r.Writes.StateTotal, r.Memory.PeakRSSMiB, r.Memory.HeapInuseMiB,
			r.Drift.P50, r.Drift.P99, r.Drift.Max, r.DriftPasses.Count, perTampering(r), r.DriftPasses.MeanMs)
	}
	total := c.Many.Profiles * c.Many.NamespacesPerProfile
	for _, s := range scales {
		if s.Namespaces == total && s.Managed != nil && s.Managed.Drift != nil {
			d := s.Managed.Drift
			w("| 1 x %s (this run's drift at N = %s) | | | | | | %.0f / %.0f / %.0f | %.0f, %.1f, %.1f |\n", thousands(total), thousands(total),
				d.All.P50, d.All.P99, d.All.Max, d.Passes.Count, d.Passes.Count/float64(max(d.All.Count, 1)), d.Passes.MeanMs)
		}
	}
	w("\nDrift repair by kind (ms), p50 / p99 / max:")
	for _, r := range []ManyProfilesRun{c.Many, c.One} {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.DriftByKind)) {
			l := r.DriftByKind[k]
			parts = append(parts, fmt.Sprintf("%s (%d) %.0f / %.0f / %.0f", k, l.Count, l.P50, l.P99, l.Max))
		}
		w(" %d x %s: %s.", r.Profiles, thousands(r.NamespacesPerProfile), strings.Join(parts, ", "))
	}
	w("\n")
	if c.One.Drift.P50 > 0 && c.One.DriftPasses.MeanMs > 0 {
		w("\n%d x N over 1 x N: drift repair p50 %.2fx, p99 %.2fx, mean reconcile %.2fx; Ready %.2fx for %dx the namespaces.\n",
			c.Many.Profiles, c.Many.Drift.P50/c.One.Drift.P50, c.Many.Drift.P99/c.One.Drift.P99,
			c.Many.DriftPasses.MeanMs/c.One.DriftPasses.MeanMs, c.Many.ReadySeconds/c.One.ReadySeconds, c.Many.Profiles)
	}
	w("\n")
}

// perTampering is the drift run's reconciles per tampering.
func perTampering(r ManyProfilesRun) float64 {
	if r.Drift.Count == 0 {
		return 0
	}
	return r.DriftPasses.Count / float64(r.Drift.Count)
}

// countsText renders counts by kind, sorted.
func countsText(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ratioText renders a ratio, or "-" when there is none.
func ratioText(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}
