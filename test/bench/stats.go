package main

import (
	"math"
	"slices"
	"time"
)

// Spread is the minimum, median and maximum of repeated measurements.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"`
}

// spreadOf summarizes values; the zero Spread when there are none.
func spreadOf(values []float64) Spread {
	if len(values) == 0 {
		return Spread{}
	}
	s := slices.Clone(values)
	slices.Sort(s)
	return Spread{Min: s[0], Median: quantile(s, 0.5), Max: s[len(s)-1], Runs: len(s)}
}

// Latencies summarizes a latency sample in milliseconds.
type Latencies struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
	Mean  float64 `json:"meanMs"`
}

// latenciesOf summarizes durations; percentiles interpolate linearly
// between the closest ranks, so p99 of 100 samples lies between the two
// largest rather than being the maximum.
func latenciesOf(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	ms := make([]float64, len(d))
	var sum float64
	for i, v := range d {
		ms[i] = float64(v) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	return Latencies{
		Count: len(ms), P50: round(quantile(ms, 0.50)), P90: round(quantile(ms, 0.90)),
		P99: round(quantile(ms, 0.99)), Max: round(ms[len(ms)-1]), Mean: round(sum / float64(len(ms))),
	}
}

// quantile returns the q-quantile of sorted values (linear interpolation
// between closest ranks).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// seconds converts a duration to seconds rounded to milliseconds.
func seconds(d time.Duration) float64 { return round3(d.Seconds()) }

// round rounds to one decimal, enough for milliseconds.
func round(v float64) float64 { return math.Round(v*10) / 10 }

// round3 rounds to three decimals.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// mib converts bytes to MiB with two decimals.
func mib(b float64) float64 { return math.Round(b/(1<<20)*100) / 100 }
