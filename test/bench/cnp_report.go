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
	w("One cold start per spec.enforcement, each on a fresh plane with the ClusterNetworkPolicy CRD (network-policy-api, standard channel) installed; the sample profile with only spec.enforcement set. ")
	w("Tiers with isolation Namespace: %s (%d governed namespaces, one ClusterNetworkPolicy each besides one per tier). ", strings.Join(c.NamespaceIsolatedTiers, ", "), c.NamespaceIsolated)
	w("Ready: from the manager's start to the watch showing Ready=True. Objects: listed once the manager settled (planned by the renderer in brackets); stored size is their JSON without managedFields. Writes: the manager's, in the audit log, until settled.\n\n")
	w("| Enforcement | Ready (s) | from profile (s) | NetworkPolicies | ClusterNetworkPolicies | stored (KiB) | state writes | writes by resource and verb | peak RSS (MiB) | heap in use (MiB) |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range c.Modes {
		w("| %s | %.2f | %.2f | %d (%d) | %d (%d) | %.0f | %d | %s | %.1f | %.1f |\n",
			m.Enforcement, m.ReadySeconds, m.FromProfileSeconds, m.NetworkPolicies, m.PlannedNetworkPolicies,
			m.ClusterNetworkPolicies, m.PlannedClusterNetworkPolicies, m.StoredKiB, m.Writes.StateTotal, writesText(m.Writes),
			m.Memory.PeakRSSMiB, m.Memory.HeapInuseMiB)
	}
	if len(c.Modes) < 2 {
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
	objects := func(m EnforcementRun) float64 { return float64(m.NetworkPolicies + m.ClusterNetworkPolicies) }
	w("\nRatios to %s mode, same run:\n\n", base.Enforcement)
	w("| Enforcement | Ready | from profile | objects | stored size | state writes | peak RSS | heap in use |\n|---|---|---|---|---|---|---|---|\n")
	for _, m := range c.Modes[1:] {
		w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Enforcement,
			ratio(m.ReadySeconds, base.ReadySeconds), ratio(m.FromProfileSeconds, base.FromProfileSeconds),
			ratio(objects(m), objects(base)), ratio(m.StoredKiB, base.StoredKiB),
			ratio(float64(m.Writes.StateTotal), float64(base.Writes.StateTotal)),
			ratio(m.Memory.PeakRSSMiB, base.Memory.PeakRSSMiB), ratio(m.Memory.HeapInuseMiB, base.Memory.HeapInuseMiB))
	}
	w("\n")
}
