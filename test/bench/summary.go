package main

import (
	"cmp"
	"slices"
)

// defaultRawConcurrency is what results older than the concurrency sweep
// ran the raw client with.
const defaultRawConcurrency = 16

// RawPoint is T_raw at one concurrency: the spread of its runs.
type RawPoint struct {
	// Concurrency is the writes in flight.
	Concurrency int `json:"concurrency"`
	// Seconds is the spread of T_raw over the runs.
	Seconds Spread `json:"seconds"`
}

// rawSweep groups runs by concurrency, in increasing order.
func rawSweep(runs []RawRun) []RawPoint {
	byConcurrency := map[int][]float64{}
	for _, r := range runs {
		c := cmp.Or(r.Concurrency, defaultRawConcurrency)
		byConcurrency[c] = append(byConcurrency[c], r.Seconds)
	}
	var out []RawPoint
	for c, v := range byConcurrency {
		out = append(out, RawPoint{Concurrency: c, Seconds: spreadOf(v)})
	}
	slices.SortFunc(out, func(a, b RawPoint) int { return cmp.Compare(a.Concurrency, b.Concurrency) })
	return out
}

// bestRaw is the concurrency with the lowest median T_raw: the raw client
// at its best. The zero RawPoint when there are no runs.
func bestRaw(runs []RawRun) RawPoint {
	var best RawPoint
	for _, p := range rawSweep(runs) {
		if best.Seconds.Runs == 0 || p.Seconds.Median < best.Seconds.Median {
			best = p
		}
	}
	return best
}

// rawKind names the raw client's way of writing the policy.
func rawKind(apply bool) string {
	if apply {
		return "applied"
	}
	return "created"
}

// MemoryPerNamespace is the manager's memory divided by the governed
// namespaces (medians over the scale's runs). The average includes the
// process's fixed part, so it falls with N whenever the cost per namespace
// does not rise; the marginal cost, from the next smaller scale, is the
// cost of a namespace alone.
type MemoryPerNamespace struct {
	PeakRSSKiB   float64 `json:"peakRSSKiB"`
	HeapInuseKiB float64 `json:"heapInuseKiB"`
	// MarginalPeakRSSKiB and MarginalHeapInuseKiB are the growth from the
	// next smaller scale divided by the namespaces added; zero at the
	// smallest.
	MarginalPeakRSSKiB   float64 `json:"marginalPeakRSSKiB,omitempty"`
	MarginalHeapInuseKiB float64 `json:"marginalHeapInuseKiB,omitempty"`
}

// memoryPerNamespace divides the median peak RSS and heap in use of the
// scale's runs by its governed namespaces; nil without memory readings.
func memoryPerNamespace(s Scale) *MemoryPerNamespace {
	if len(s.Memory) == 0 || s.Namespaces == 0 {
		return nil
	}
	var rss, heap []float64
	for _, m := range s.Memory {
		rss = append(rss, m.PeakRSSMiB)
		heap = append(heap, m.HeapInuseMiB)
	}
	per := func(v []float64) float64 { return round3(spreadOf(v).Median * 1024 / float64(s.Namespaces)) }
	return &MemoryPerNamespace{PeakRSSKiB: per(rss), HeapInuseKiB: per(heap)}
}

// trendTolerance is the change between consecutive scales that still
// counts as flat: the machine's noise.
const trendTolerance = 0.10

// Trends of a figure with N.
const (
	trendFalling = "falling"
	trendFlat    = "flat"
	trendRising  = "rising"
)

// trend classifies values ordered by increasing N: rising when any step
// rises by more than trendTolerance, falling when every step falls by more,
// flat otherwise; empty with fewer than two values.
func trend(values []float64) string {
	if len(values) < 2 {
		return ""
	}
	falling := true
	for i := 1; i < len(values); i++ {
		prev, v := values[i-1], values[i]
		if v > prev*(1+trendTolerance) {
			return trendRising
		}
		if v > prev*(1-trendTolerance) {
			falling = false
		}
	}
	if falling {
		return trendFalling
	}
	return trendFlat
}

// MemoryTrend says how the manager's memory per governed namespace moves
// with N: the average and, with three scales or more, the marginal cost.
type MemoryTrend struct {
	PeakRSS           string `json:"peakRSS"`
	HeapInuse         string `json:"heapInuse"`
	MarginalPeakRSS   string `json:"marginalPeakRSS,omitempty"`
	MarginalHeapInuse string `json:"marginalHeapInuse,omitempty"`
}

// memoryTrend sets the marginal memory per namespace of the scales (the
// scales' PerNamespace must be set) and classifies the per-namespace
// figures by increasing N; nil with fewer than two scales with memory
// readings.
func memoryTrend(scales []Scale) *MemoryTrend {
	var byN []*Scale
	for i := range scales {
		if scales[i].PerNamespace != nil {
			byN = append(byN, &scales[i])
		}
	}
	if len(byN) < 2 {
		return nil
	}
	slices.SortFunc(byN, func(a, b *Scale) int { return cmp.Compare(a.Namespaces, b.Namespaces) })
	var rss, heap, marginalRSS, marginalHeap []float64
	for i, s := range byN {
		p := s.PerNamespace
		rss, heap = append(rss, p.PeakRSSKiB), append(heap, p.HeapInuseKiB)
		if i == 0 || s.Namespaces == byN[i-1].Namespaces {
			continue
		}
		prev := byN[i-1]
		added := float64(s.Namespaces - prev.Namespaces)
		marginal := func(f func(Memory) float64) float64 {
			return round3((medianMemory(*s, f) - medianMemory(*prev, f)) * 1024 / added)
		}
		p.MarginalPeakRSSKiB = marginal(func(m Memory) float64 { return m.PeakRSSMiB })
		p.MarginalHeapInuseKiB = marginal(func(m Memory) float64 { return m.HeapInuseMiB })
		marginalRSS, marginalHeap = append(marginalRSS, p.MarginalPeakRSSKiB), append(marginalHeap, p.MarginalHeapInuseKiB)
	}
	return &MemoryTrend{
		PeakRSS: trend(rss), HeapInuse: trend(heap),
		MarginalPeakRSS: trend(marginalRSS), MarginalHeapInuse: trend(marginalHeap),
	}
}

// summarize computes a scale's derived figures from its runs.
func (s *Scale) summarize() {
	var cold []float64
	for _, c := range s.Cold {
		cold = append(cold, c.Seconds)
	}
	s.ColdSeconds = spreadOf(cold)
	s.RawCreated, s.RawApplied = rawSweep(s.Raw), rawSweep(s.RawApply)
	s.BestRawCreated, s.BestRawApplied = bestRaw(s.Raw), bestRaw(s.RawApply)
	s.Ratio, s.CreatedRatio = 0, 0
	if t := s.BestRawApplied.Seconds.Median; t > 0 {
		s.Ratio = round3(s.ColdSeconds.Median / t)
	}
	if t := s.BestRawCreated.Seconds.Median; t > 0 {
		s.CreatedRatio = round3(s.ColdSeconds.Median / t)
	}
	s.PerNamespace = memoryPerNamespace(*s)
}
