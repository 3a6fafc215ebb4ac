package main

import "testing"

func TestBestRawTakesTheFastestConcurrency(t *testing.T) {
	runs := []RawRun{
		{Concurrency: 16, Seconds: 10}, {Concurrency: 32, Seconds: 8}, {Concurrency: 32, Seconds: 12},
		{Concurrency: 64, Seconds: 9},
	}
	sweep := rawSweep(runs)
	if len(sweep) != 3 || sweep[0].Concurrency != 16 || sweep[1].Seconds.Median != 10 || sweep[2].Concurrency != 64 {
		t.Fatalf("rawSweep = %+v", sweep)
	}
	if best := bestRaw(runs); best.Concurrency != 64 || best.Seconds.Median != 9 {
		t.Fatalf("bestRaw = %+v, want 64 in flight, 9 s", best)
	}
	// Results older than the sweep ran at 16 without saying so.
	if best := bestRaw([]RawRun{{Seconds: 3}}); best.Concurrency != defaultRawConcurrency {
		t.Fatalf("bestRaw of an old run = %+v", best)
	}
	if best := bestRaw(nil); best.Seconds.Runs != 0 {
		t.Fatalf("bestRaw(nil) = %+v", best)
	}
}

func TestSummarizeRatios(t *testing.T) {
	s := Scale{
		Namespaces: 1000,
		Raw:        []RawRun{{Concurrency: 16, Seconds: 4}, {Concurrency: 64, Seconds: 2}},
		RawApply:   []RawRun{{Concurrency: 16, Seconds: 2.5}, {Concurrency: 64, Seconds: 3}},
		Cold:       []ColdStart{{Seconds: 2.75}},
		Memory:     []Memory{{PeakRSSMiB: 50, HeapInuseMiB: 10}},
	}
	s.summarize()
	if s.Ratio != 1.1 || s.CreatedRatio != 1.375 {
		t.Fatalf("ratios = %v applied, %v created; want 1.1, 1.375", s.Ratio, s.CreatedRatio)
	}
	if p := s.PerNamespace; p == nil || p.PeakRSSKiB != 51.2 || p.HeapInuseKiB != 10.24 {
		t.Fatalf("PerNamespace = %+v", s.PerNamespace)
	}
}

func TestTrend(t *testing.T) {
	for _, tc := range []struct {
		values []float64
		want   string
	}{
		{[]float64{45, 15, 4}, trendFalling},
		{[]float64{7, 7.5, 6}, trendFlat},
		{[]float64{7, 5, 8}, trendRising},
		{[]float64{7}, ""},
	} {
		if got := trend(tc.values); got != tc.want {
			t.Errorf("trend(%v) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

func TestMemoryTrendMarginal(t *testing.T) {
	scale := func(n int, rss float64) Scale {
		s := Scale{Namespaces: n, Memory: []Memory{{PeakRSSMiB: rss, HeapInuseMiB: rss / 2}}}
		s.summarize()
		return s
	}
	// Listed out of order: the trend follows N.
	scales := []Scale{scale(5000, 70), scale(1000, 40), scale(20000, 182.5)}
	tr := memoryTrend(scales)
	if tr == nil || tr.PeakRSS != trendFalling || tr.MarginalPeakRSS != trendFlat {
		t.Fatalf("memoryTrend = %+v", tr)
	}
	if got := scales[0].PerNamespace.MarginalPeakRSSKiB; got != 7.68 {
		t.Fatalf("marginal peak RSS at 5,000 = %v KiB, want 7.68", got)
	}
}
