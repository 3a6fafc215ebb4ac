package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

func TestTicks(t *testing.T) {
	values := func(ticks []plot.Tick) []float64 {
		var v []float64
		for _, tk := range ticks {
			v = append(v, tk.Value)
		}
		return v
	}
	if got := values(logTicks(1.5, 70)); !slices.Equal(got, []float64{2, 5, 10, 20, 50}) {
		t.Errorf("logTicks(1.5, 70) = %v", got)
	}
	if got := values(linearTicks(0, 270)); !slices.Equal(got, []float64{0, 50, 100, 150, 200, 250}) {
		t.Errorf("linearTicks(0, 270) = %v", got)
	}
}

func TestWritePlot(t *testing.T) {
	scale := func(n int, seconds float64) Scale {
		s := Scale{
			Namespaces: n,
			Raw:        []RawRun{{Concurrency: 64, Seconds: seconds * 0.8}},
			RawApply:   []RawRun{{Concurrency: 32, Seconds: seconds * 0.95}},
			Cold:       []ColdStart{{Seconds: seconds}},
			Memory:     []Memory{{PeakRSSMiB: 40 + seconds, HeapInuseMiB: 10 + seconds/2}},
		}
		s.summarize()
		return s
	}
	dir := t.TempDir()
	if err := writePlot(&Results{Scales: []Scale{scale(1000, 3), scale(20000, 60)}}, dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, plotFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "T_cold (manager)", "best T_raw, policy applied", "peak RSS (VmHWM)", "20,000"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %q", plotFile, want)
		}
	}
}
