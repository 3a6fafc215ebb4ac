package dataplane_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tierguard/tierguard/test/dataplane"
	"github.com/tierguard/tierguard/test/hostbed"
)

// results collects the figures the suite prints at the end and writes to
// results.md (not committed: see .gitignore).
var results = &suiteResults{}

type suiteResults struct {
	mu        sync.Mutex
	matrices  []titledMatrix
	exposures []exposureSeries
	late      []lateSeries
	timings   []string
}

type titledMatrix struct {
	title  string
	matrix dataplane.Matrix
}

// exposureSeries is the exposures of one kind of tampering.
type exposureSeries struct {
	kind      string
	cell      dataplane.Cell
	exposures []dataplane.Exposure
	repairs   int64
}

func (r *suiteResults) addMatrix(title string, m dataplane.Matrix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.matrices = append(r.matrices, titledMatrix{title: title, matrix: m})
}

func (r *suiteResults) addExposures(s exposureSeries) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exposures = append(r.exposures, s)
}

// lateSeries is the control experiment's measurements.
type lateSeries struct {
	cell dataplane.Cell
	late []dataplane.LateRepair
}

func (r *suiteResults) addLateRepairs(cell dataplane.Cell, late []dataplane.LateRepair) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.late = append(r.late, lateSeries{cell: cell, late: late})
}

func (r *suiteResults) addTiming(phase string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timings = append(r.timings, fmt.Sprintf("%s: %.1fs", phase, d.Seconds()))
}

// exposureTable renders the exposure figures as a Markdown table.
func exposureTable(series []exposureSeries) string {
	var b strings.Builder
	b.WriteString("| tampering | forbidden connection | n | repair min / median / max | opened | open min / median / max | tamper→closed min / median / max | repairs in status |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, s := range series {
		var repair, open, toClosed []time.Duration
		opened := 0
		for _, e := range s.exposures {
			repair = append(repair, e.Repair)
			open = append(open, e.Open)
			if e.Opened {
				opened++
				toClosed = append(toClosed, e.TamperToClosed)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %d of %d | %s | %s | %d |\n",
			s.kind, s.cell, len(s.exposures), spread(repair), opened, len(s.exposures), spread(open), spread(toClosed), s.repairs)
	}
	return b.String()
}

// lateRepairTable renders the control experiment as a Markdown table.
func lateRepairTable(cell dataplane.Cell, late []dataplane.LateRepair) string {
	var open, closed []time.Duration
	for _, l := range late {
		open = append(open, l.EngineOpen)
		closed = append(closed, l.ResumeToClosed)
	}
	return fmt.Sprintf("| control | forbidden connection | n | tamper→open (engine) min / median / max | resume→closed min / median / max |\n"+
		"|---|---|---|---|---|\n| manager paused, allow-all | %s | %d | %s | %s |\n", cell, len(late), spread(open), spread(closed))
}

// spread renders min / median / max, or "-" for no values.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := dataplane.Summarize(ds)
	return fmt.Sprintf("%s / %s / %s", ms(s.Min), ms(s.Median), ms(s.Max))
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// String renders every figure as Markdown.
func (r *suiteResults) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "# Dataplane suite results\n\n%s, %s/%s, engine kube-router %s (test instrument only)\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, hostbed.KubeRouterVersion)
	for _, m := range r.matrices {
		fmt.Fprintf(&b, "## %s\n\n%d of %d cells open\n\n```\n%s```\n\n", m.title, m.matrix.CountOpen(), len(m.matrix.Cells()), m.matrix)
	}
	if len(r.exposures) > 0 {
		b.WriteString("## Exposure windows after tampering\n\n")
		b.WriteString("- repair: from the tampering write until the API server shows Tierguard's repair.\n")
		b.WriteString("- open: from the first forbidden connection that got through to the first refused one after the last that got through (0 when none got through).\n")
		b.WriteString("- tamper→closed: from the tampering write to that refused connection, for the tamperings that opened.\n\n")
		b.WriteString(exposureTable(r.exposures))
		b.WriteString("\n")
	}
	for _, l := range r.late {
		b.WriteString("Control: the manager paused (SIGSTOP) until the tampering is enforced, then resumed.\n\n")
		b.WriteString(lateRepairTable(l.cell, l.late))
		b.WriteString("\n")
	}
	if len(r.timings) > 0 {
		fmt.Fprintf(&b, "## Timings\n\n- %s\n", strings.Join(r.timings, "\n- "))
	}
	return b.String()
}

// print writes every figure to standard output.
func (r *suiteResults) print() { fmt.Printf("\n%s\n", r) }

// write writes every figure to path.
func (r *suiteResults) write(path string) error {
	if err := os.WriteFile(path, []byte(r.String()), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Printf("Results written to %s\n", path)
	return nil
}
