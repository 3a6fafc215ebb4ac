package main

import (
	"fmt"
	"strings"
)

// enforcementSection renders the enforcement comparison: the figures of
// each mode, then their ratios to NetworkPolicy mode of the same run (the
// machine may be shared: only ratios within one run compare).
func enforcementSection(b *strings.Builder, c *EnforcementComparison) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Enforcement modes, N = %s\n\n", thousands(c.Namespaces))
	w("%d cold start(s) per spec.enforcement, the modes in turn, each on a fresh plane with the ClusterNetworkPolicy CRD (network-policy-api, standard channel) installed and watched (as the CNI would: the API server builds a custom resource's watch cache on its first request); the sample profile with only spec.enforcement set. ", c.Runs)
	w("Tiers with isolation Namespace: %s (%d governed namespaces, one ClusterNetworkPolicy each besides one per tier). ", strings.Join(c.NamespaceIsolatedTiers, ", "), c.NamespaceIsolated)
	w("Ready: from the manager's start to the watch showing Ready=True (min / median / max over the runs). Objects: listed once the manager settled (planned by the renderer in brackets); stored size is their JSON without managedFields. Writes: the manager's, in the audit log, until settled. Objects, size, writes and heap are the first run's.\n\n")
	w("| Enforcement | Ready (s) | from profile (s) | NetworkPolicies | ClusterNetworkPolicies | stored (KiB) | state writes | writes by resource and verb | peak RSS (MiB) | heap in use (MiB) |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range c.Modes {
		if len(m.Runs) == 0 {
			continue
		}
		r := m.Runs[0]
		w("| %s | %s | %s | %d (%d) | %d (%d) | %.0f | %d | %s | %s | %.1f |\n",
			m.Enforcement, spreadText(m.ReadySeconds, "%.2f"), spreadText(m.FromProfileSeconds, "%.2f"),
			r.NetworkPolicies, r.PlannedNetworkPolicies, r.ClusterNetworkPolicies, r.PlannedClusterNetworkPolicies,
			r.StoredKiB, r.Writes.StateTotal, writesText(r.Writes), spreadText(m.PeakRSSMiB, "%.1f"), r.Memory.HeapInuseMiB)
	}
	if len(c.Modes) < 2 || len(c.Modes[0].Runs) == 0 {
		w("\n")
		return
	}
	base := c.Modes[0]
	ratio := func(v, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v/b)
	}
	objects := func(r EnforcementRun) float64 { return float64(r.NetworkPolicies + r.ClusterNetworkPolicies) }
	w("\nRatios to %s mode, same bench run (medians for times and peak RSS):\n\n", base.Enforcement)
	w("| Enforcement | Ready | from profile | objects | stored size | state writes | peak RSS | heap in use |\n|---|---|---|---|---|---|---|---|\n")
	b0 := base.Runs[0]
	for _, m := range c.Modes[1:] {
		if len(m.Runs) == 0 {
			continue
		}
		r := m.Runs[0]
		w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Enforcement,
			ratio(m.ReadySeconds.Median, base.ReadySeconds.Median), ratio(m.FromProfileSeconds.Median, base.FromProfileSeconds.Median),
			ratio(objects(r), objects(b0)), ratio(r.StoredKiB, b0.StoredKiB),
			ratio(float64(r.Writes.StateTotal), float64(b0.Writes.StateTotal)),
			ratio(m.PeakRSSMiB.Median, base.PeakRSSMiB.Median), ratio(r.Memory.HeapInuseMiB, b0.Memory.HeapInuseMiB))
	}
	w("\n")
}
