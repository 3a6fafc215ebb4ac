package dataplane

import (
	"slices"
	"time"
)

// Summary is the minimum, median and maximum of durations.
type Summary struct {
	Min, Median, Max time.Duration
}

// Summarize returns the summary of ds (zero when empty).
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return Summary{Min: sorted[0], Median: median, Max: sorted[n-1]}
}
