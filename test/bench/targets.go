package main

import "fmt"

// The issues' targets. targetRatio bounds T_cold / best T_raw applied, and
// the latency targets hold, at every N.
const (
	targetRatio         = 1.10
	targetDriftP50Ms    = 80
	targetDriftP99Ms    = 100
	targetNewNSP50Ms    = 90
	targetNewNSP99Ms    = 100
	targetRSSMiB        = 64
	targetRSSAt         = 20000
	targetHeapPer10kMiB = 1.0
	targetSteadyWrites  = 0
)

// evaluateTargets sets r.Targets from the figures.
func (r *Results) evaluateTargets() {
	var ts []Target
	add := func(figure string, n int, target, value string, met bool) {
		ts = append(ts, Target{Figure: figure, Scale: n, Target: target, Value: value, Met: met})
	}
	for _, s := range r.Scales {
		if s.Ratio > 0 {
			add("T_cold / best T_raw applied", s.Namespaces, fmt.Sprintf("<= %.2f", targetRatio), fmt.Sprintf("%.2f", s.Ratio), s.Ratio <= targetRatio)
		}
		if s.Namespaces == targetRSSAt && len(s.Memory) > 0 {
			rss := s.Memory[0].PeakRSSMiB
			add("peak RSS", s.Namespaces, fmt.Sprintf("<= %d MiB", targetRSSMiB), fmt.Sprintf("%.1f MiB", rss), rss <= targetRSSMiB)
		}
		m := s.Managed
		if m == nil {
			continue
		}
		for _, ph := range m.Phases {
			add("writes to namespaces, policies, profiles: "+ph.Name, s.Namespaces, "0",
				fmt.Sprint(ph.Writes.StateTotal), ph.Writes.StateTotal == targetSteadyWrites)
		}
		if d := m.Drift; d != nil {
			add("drift repair p50", s.Namespaces, fmt.Sprintf("<= %d ms", targetDriftP50Ms), ms(d.All.P50), d.All.P50 <= targetDriftP50Ms)
			add("drift repair p99", s.Namespaces, fmt.Sprintf("<= %d ms", targetDriftP99Ms), ms(d.All.P99), d.All.P99 <= targetDriftP99Ms)
		}
		if n := m.NewNamespaces; n != nil {
			add("new namespace to policy p50", s.Namespaces, fmt.Sprintf("<= %d ms", targetNewNSP50Ms), ms(n.Policy.P50), n.Policy.P50 <= targetNewNSP50Ms)
			add("new namespace to policy p99", s.Namespaces, fmt.Sprintf("<= %d ms", targetNewNSP99Ms), ms(n.Policy.P99), n.Policy.P99 <= targetNewNSP99Ms)
		}
		if e := m.Extras; e != nil {
			limit := fmt.Sprintf("<= %.0f MiB per 10,000", targetHeapPer10kMiB)
			add("heap growth, unrelated ConfigMaps", s.Namespaces, limit, fmt.Sprintf("%+.2f MiB", e.ConfigMapHeapMiBPer10k), e.ConfigMapHeapMiBPer10k <= targetHeapPer10kMiB)
			add("heap growth, foreign NetworkPolicies", s.Namespaces, limit, fmt.Sprintf("%+.2f MiB", e.PolicyHeapMiBPer10k), e.PolicyHeapMiBPer10k <= targetHeapPer10kMiB)
		}
	}
	r.Targets = ts
}

// ms formats milliseconds.
func ms(v float64) string { return fmt.Sprintf("%.1f ms", v) }
