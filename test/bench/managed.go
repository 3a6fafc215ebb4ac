package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// Managed is what one plane with the manager measured.
type Managed struct {
	// Cold is the cold start.
	Cold ColdStart `json:"cold"`
	// Memory is the manager's memory once the cold start settled.
	Memory Memory `json:"memory"`
	// Phases are the writes counted in steady state.
	Phases []Phase `json:"phases,omitempty"`
	// Drift are the drift repair latencies.
	Drift *DriftResult `json:"drift,omitempty"`
	// NewNamespaces are the new namespace latencies.
	NewNamespaces *NewNamespaceResult `json:"newNamespaces,omitempty"`
	// Extras is the memory cost of unrelated objects.
	Extras *Extras `json:"extras,omitempty"`
	// Profiles are the top CPU and allocation consumers of the cold start.
	Profiles *Profiles `json:"profiles,omitempty"`
}

// managedRun is one plane with the manager.
type managedRun struct {
	b          *bench
	l          layout
	p          *plane
	obs        *observer
	m          *managerProc
	plan       *render.Plan
	kubeconfig string
	user       string
	// cpuProfile is where the cold start's CPU profile goes; empty: no
	// profiles at all.
	cpuProfile   string
	cpuDone      func() error
	driftCPUDone func() error
}

// measurements selects what a run with the manager measures beside the cold
// start and the memory after it.
type measurements struct {
	// full adds steady state, drift and new namespaces.
	full bool
	// profile adds CPU and memory profiles.
	profile bool
	// extras adds the memory cost of unrelated objects (with full).
	extras bool
}

// runManaged measures the manager on a fresh plane.
func (b *bench) runManaged(ctx context.Context, l layout, run int, what measurements) (Managed, error) {
	dir := filepath.Join(b.workDir, fmt.Sprintf("manager-%d-%d", len(l.Governed), run))
	p, err := startPlane(ctx, dir, b.configDir)
	if err != nil {
		return Managed{}, err
	}
	r := &managedRun{b: b, l: l, p: p, user: harness.ManagerUser}
	if what.profile {
		r.cpuProfile = filepath.Join(b.profileDir, fmt.Sprintf("cpu-%d.pb.gz", len(l.Governed)))
	}
	out, err := r.run(ctx, what)
	// A profile still being taken ends before the manager does; its error,
	// if any, already came out of run.
	for _, done := range []func() error{r.cpuDone, r.driftCPUDone} {
		if done != nil {
			_ = done()
		}
	}
	return out, r.end(err)
}

// end stops the run's manager, printing its log's tail when the run failed,
// and then its plane (kept for its logs when the run failed).
func (r *managedRun) end(err error) error {
	if r.m != nil {
		if err != nil {
			r.b.logf("  manager log tail:\n%s", r.m.LogTail(30))
		}
		err = errors.Join(err, r.m.Stop(15*time.Second))
	}
	if err != nil {
		return r.p.stopWith(err)
	}
	return r.p.stop(r.b.opts.keep)
}

// connect makes the manager's kubeconfig (its ServiceAccount's) and the
// run's observer, which stops with octx.
func (r *managedRun) connect(ctx, octx context.Context) error {
	_, kubeconfig, err := r.p.serviceAccount(ctx, harness.ServiceAccountName)
	if err != nil {
		return err
	}
	r.kubeconfig = kubeconfig
	r.obs, err = newObserver(octx, r.p.adminCfg)
	return err
}

func (r *managedRun) run(ctx context.Context, what measurements) (Managed, error) {
	var out Managed
	r.b.noteVersion(r.p)
	began := time.Now()
	if err := r.l.create(ctx, r.p.admin); err != nil {
		return out, err
	}
	r.b.logf("  populated %d namespaces in %s", len(r.l.all()), time.Since(began).Round(time.Second))
	// The observer stops with this run, before the plane does.
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := r.connect(ctx, octx)
	if err != nil {
		return out, err
	}

	if r.m, r.plan, out.Cold, err = r.coldStart(ctx); err != nil {
		return out, fmt.Errorf("cold start: %w", err)
	}
	if out.Memory, err = r.m.memory(ctx); err != nil {
		return out, err
	}
	r.b.logf("  memory after convergence: peak RSS %.1f MiB, heap in use %.1f MiB", out.Memory.PeakRSSMiB, out.Memory.HeapInuseMiB)
	if err := r.saveProfiles(ctx); err != nil {
		return out, err
	}
	if !what.full {
		out.Profiles, err = r.profiles(ctx)
		return out, err
	}
	if out.Phases, err = r.steady(ctx); err != nil {
		return out, fmt.Errorf("steady state: %w", err)
	}
	if out.Drift, err = r.drift(ctx); err != nil {
		return out, fmt.Errorf("drift: %w", err)
	}
	if out.NewNamespaces, err = r.newNamespaces(ctx); err != nil {
		return out, fmt.Errorf("new namespaces: %w", err)
	}
	if what.extras {
		if out.Extras, err = r.extras(ctx); err != nil {
			return out, fmt.Errorf("unrelated objects: %w", err)
		}
	}
	out.Profiles, err = r.profiles(ctx)
	return out, err
}

// saveProfiles keeps the allocation profile of the cold start, before a
// restart replaces the process, and the heap profile of the converged
// manager: what its cache holds.
func (r *managedRun) saveProfiles(ctx context.Context) error {
	if r.cpuProfile == "" {
		return nil
	}
	if err := saveProfile(ctx, r.m, "allocs", r.profilePath("allocs")); err != nil {
		return err
	}
	return saveProfile(ctx, r.m, "heap?gc=1", r.profilePath("heap"))
}

// profilePath is where a profile of this scale goes.
func (r *managedRun) profilePath(kind string) string {
	return filepath.Join(r.b.profileDir, fmt.Sprintf("%s-%d.pb.gz", kind, len(r.l.Governed)))
}

// driftProfile is where the CPU profile of the drift run goes.
func (r *managedRun) driftProfile() string { return r.profilePath("cpu-drift") }

// listing is one `go tool pprof -top` of a profile file, with its flags.
type listing struct {
	out  *[]string
	path string
	args []string
}

// profiles waits for the CPU profiles and lists the top consumers.
func (r *managedRun) profiles(ctx context.Context) (*Profiles, error) {
	if r.cpuDone == nil {
		return nil, nil
	}
	if err := r.cpuDone(); err != nil {
		return nil, err
	}
	pr := &Profiles{
		CPUFile: r.cpuProfile, CPUSeconds: r.b.opts.cpuProfileSeconds,
		AllocsFile: r.profilePath("allocs"), HeapFile: r.profilePath("heap"),
	}
	listings := []listing{
		{&pr.CPUTop, pr.CPUFile, nil},
		{&pr.CPUTopCum, pr.CPUFile, []string{"-cum"}},
		{&pr.AllocTop, pr.AllocsFile, []string{"-sample_index=alloc_space"}},
		{&pr.HeapTop, pr.HeapFile, []string{"-sample_index=inuse_space"}},
	}
	if r.driftCPUDone != nil {
		if err := r.driftCPUDone(); err != nil {
			return nil, err
		}
		pr.DriftCPUFile, pr.DriftCPUSeconds = r.driftProfile(), r.b.opts.driftProfileSeconds
		listings = append(listings, listing{&pr.DriftCPUTopCum, pr.DriftCPUFile, []string{"-cum"}})
	}
	for _, l := range listings {
		var err error
		if *l.out, err = pprofTop(ctx, l.path, l.args...); err != nil {
			return nil, err
		}
	}
	return pr, nil
}
