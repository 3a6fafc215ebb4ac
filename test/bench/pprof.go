package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/tierguard/tierguard/test/harness"
)

// Profiles are `go tool pprof -top` listings of the manager's cold start.
type Profiles struct {
	// CPUFile and AllocsFile are the raw profiles.
	CPUFile    string `json:"cpuFile"`
	AllocsFile string `json:"allocsFile"`
	// CPUSeconds is how long the CPU profile sampled, from just before the
	// profile's creation.
	CPUSeconds int `json:"cpuSeconds"`
	// CPUTop lists the functions by flat CPU time; CPUTopCum by cumulative.
	CPUTop    []string `json:"cpuTop"`
	CPUTopCum []string `json:"cpuTopCum"`
	// AllocTop lists the functions by bytes allocated since the process
	// began (alloc_space), which covers the cold start.
	AllocTop []string `json:"allocTop"`
	// HeapFile and HeapTop: the live heap once converged (inuse_space),
	// what the cache holds.
	HeapFile string   `json:"heapFile"`
	HeapTop  []string `json:"heapTop"`
	// DriftCPUFile, DriftCPUSeconds and DriftCPUTopCum: CPU while drift is
	// repaired, by cumulative time: the cost of one pass.
	DriftCPUFile    string   `json:"driftCpuFile,omitempty"`
	DriftCPUSeconds int      `json:"driftCpuSeconds,omitempty"`
	DriftCPUTopCum  []string `json:"driftCpuTopCum,omitempty"`
}

// profileTopN is how many functions each listing keeps.
const profileTopN = 25

// startCPUProfile starts sampling the manager's CPU for secs seconds into
// path and returns a function that waits for the profile (any number of
// times).
func startCPUProfile(ctx context.Context, m *managerProc, secs int, path string) func() error {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if e := saveURL(ctx, fmt.Sprintf("%sprofile?seconds=%d", m.PprofURL, secs), path); e != nil {
			err = fmt.Errorf("CPU profile: %w", e)
		}
	}()
	return func() error {
		<-done
		return err
	}
}

// saveProfile saves the manager's profile of the given pprof endpoint
// (with its query) to path.
func saveProfile(ctx context.Context, m *managerProc, endpoint, path string) error {
	if err := saveURL(ctx, m.PprofURL+endpoint, path); err != nil {
		return fmt.Errorf("%s profile: %w", endpoint, err)
	}
	return nil
}

// saveURL writes the body of url to path.
func saveURL(ctx context.Context, url, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := harness.HTTPGet(ctx, url, f); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

// pprofTop runs `go tool pprof -top` on a profile and returns the listing's
// lines from its column header on.
func pprofTop(ctx context.Context, path string, args ...string) ([]string, error) {
	cmdArgs := append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", profileTopN)}, args...)
	cmd := exec.CommandContext(ctx, "go", append(cmdArgs, path)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %w: %s", path, err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	for i, line := range lines {
		if strings.Contains(line, "flat%") {
			return lines[i:], nil
		}
	}
	return lines, nil
}
