package memory

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/tierguard/tierguard/internal/metrics"
)

// lookups reads a counter of tierguard_memory_lookups_total.
func lookups(memory, result string) float64 {
	var m dto.Metric
	if err := metrics.MemoryLookups.WithLabelValues(memory, result).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
