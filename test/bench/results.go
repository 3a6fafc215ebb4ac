package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Results is everything one bench run measured; test/bench/results/latest.json.
type Results struct {
	// Date is when the run began (RFC 3339, UTC).
	Date string `json:"date"`
	// RunSeconds is how long the whole run took; EstimatedSeconds what the
	// bench predicted at its start.
	RunSeconds       float64 `json:"runSeconds"`
	EstimatedSeconds float64 `json:"estimatedSeconds,omitempty"`
	// Machine is where it ran; LoadAverage the load (1, 5, 15 min) at its
	// start and end, since other work on the machine moves every figure.
	Machine     Machine           `json:"machine"`
	LoadAverage map[string]string `json:"loadAverage"`
	// Versions of Go (the manager's and the bench's toolchain), Kubernetes
	// (the API server's) and Tierguard (the commit).
	Versions map[string]string `json:"versions"`
	// Settings are the bench's options.
	Settings Settings `json:"settings"`
	// Scales are the results per number of governed namespaces.
	Scales []Scale `json:"scales"`
	// Scaling compares the per-namespace cold start cost of the largest
	// scale with the smallest's.
	Scaling *Scaling `json:"scaling,omitempty"`
	// MemoryTrend says whether the memory per governed namespace is flat
	// or falling with N.
	MemoryTrend *MemoryTrend `json:"memoryTrend,omitempty"`
	// Enforcement compares the cost of the enforcement modes at one scale.
	Enforcement *EnforcementComparison `json:"enforcement,omitempty"`
	// Scenarios are what users do to a converged cluster: profile edits,
	// applications' own policies, many profiles.
	Scenarios *Scenarios `json:"scenarios,omitempty"`
	// Targets are the targets next to the figures (not asserted).
	Targets []Target `json:"targets"`
}

// Settings are the options a run used.
type Settings struct {
	Unrelated           int         `json:"unrelatedNamespaces"`
	RawConcurrency      []int       `json:"rawConcurrencies"`
	RawRuns             int         `json:"rawRunsPerConcurrency"`
	ColdRuns            map[int]int `json:"coldRuns"`
	IdleSeconds         float64     `json:"idleSeconds"`
	ResyncSeconds       float64     `json:"resyncPeriodSeconds"`
	Tamperings          int         `json:"tamperings"`
	NewNamespaces       int         `json:"newNamespaces"`
	GapMs               float64     `json:"pauseBetweenIncidentsMs"`
	ExtraObjects        int         `json:"extraObjectsPerKind"`
	ManagerFlags        string      `json:"managerFlags"`
	CPUProfileSeconds   int         `json:"cpuProfileSeconds"`
	DriftProfileSeconds int         `json:"driftProfileSeconds"`
}

// Scale is what one number of governed namespaces measured.
type Scale struct {
	// Namespaces is N, the governed namespaces; Unrelated the others.
	Namespaces int `json:"namespaces"`
	Unrelated  int `json:"unrelated"`
	// Raw are the runs of the physical limit with the policy created, at
	// each concurrency; RawCreated their spread per concurrency and
	// BestRawCreated the fastest concurrency's.
	Raw            []RawRun   `json:"raw"`
	RawCreated     []RawPoint `json:"rawCreated"`
	BestRawCreated RawPoint   `json:"bestRawCreated"`
	// RawApply are the runs with the policy server-side applied (as
	// Tierguard writes it); RawApplied and BestRawApplied likewise.
	RawApply       []RawRun   `json:"rawApply,omitempty"`
	RawApplied     []RawPoint `json:"rawApplied"`
	BestRawApplied RawPoint   `json:"bestRawApplied"`
	// Cold are the cold starts (the first is the full run's); ColdSeconds
	// their spread.
	Cold        []ColdStart `json:"cold"`
	ColdSeconds Spread      `json:"coldSeconds"`
	// Ratio is T_cold / best T_raw applied, medians: the target's ratio.
	Ratio float64 `json:"coldToBestRawAppliedRatio"`
	// CreatedRatio is T_cold / best T_raw created, medians.
	CreatedRatio float64 `json:"coldToBestRawCreatedRatio"`
	// Managed is the full run with the manager (steady state, drift, new
	// namespaces, memory) when this scale had one.
	Managed *Managed `json:"managed,omitempty"`
	// Memory is the memory after the cold start of each run; PerNamespace
	// its medians divided by N.
	Memory       []Memory            `json:"memory"`
	PerNamespace *MemoryPerNamespace `json:"memoryPerNamespace,omitempty"`
}

// Scaling compares per-namespace cold start costs.
type Scaling struct {
	From int `json:"from"`
	To   int `json:"to"`
	// FromPerNamespaceMs and ToPerNamespaceMs are the median T_cold per namespace at From and To.
	FromPerNamespaceMs float64 `json:"fromPerNamespaceMs"`
	ToPerNamespaceMs   float64 `json:"toPerNamespaceMs"`
	// Ratio is To's per-namespace cost over From's: 1 is linear scaling.
	Ratio float64 `json:"ratio"`
}

// Target is one of the targets, evaluated but not asserted.
type Target struct {
	Figure string `json:"figure"`
	Scale  int    `json:"namespaces,omitempty"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
}

// save writes the results as JSON, Markdown and the scaling plot into dir.
func (r *Results) save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save results: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(markdown(r)), 0o644); err != nil {
		return fmt.Errorf("save results: %w", err)
	}
	return writePlot(r, dir)
}
