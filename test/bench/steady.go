package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// touchAnnotation and touchLabel are what the forced pass changes: nothing
// Tierguard owns or reads for its plan.
const (
	touchAnnotation = "bench.tierguard.io/touched"
	touchLabel      = "bench.tierguard.io/touched"
)

// touchedNamespaces is how many governed namespaces the forced pass touches.
const touchedNamespaces = 100

// settleQuiet is how long the manager must finish no reconcile to count as
// settled.
const settleQuiet = 3 * time.Second

// Phase is a steady-state window and the manager's writes in it.
type Phase struct {
	// Name identifies the phase.
	Name string `json:"name"`
	// Description says what the bench did.
	Description string `json:"description"`
	// Reconciles is how many reconciles the manager finished in the window.
	Reconciles float64 `json:"reconciles"`
	// Writes are the manager's writes in the window.
	Writes Writes `json:"writes"`
}

// steady counts the manager's writes while idle, over a forced pass, across
// a restart, over an informer resync, and across a restart back to the
// production flags.
func (r *managedRun) steady(ctx context.Context) ([]Phase, error) {
	var phases []Phase
	one := func(step func(context.Context) (Phase, error)) func(context.Context) ([]Phase, error) {
		return func(ctx context.Context) ([]Phase, error) {
			ph, err := step(ctx)
			return []Phase{ph}, err
		}
	}
	for _, step := range []func(context.Context) ([]Phase, error){one(r.idle), one(r.forcedPass), r.restartWithResync, one(r.restartProduction)} {
		phs, err := step(ctx)
		if err != nil {
			return phases, err
		}
		for _, ph := range phs {
			r.b.logf("  %s: %d state writes, %d lease writes, %v reconciles in %.0fs",
				ph.Name, ph.Writes.StateTotal, ph.Writes.Leases, ph.Reconciles, ph.Writes.Window)
		}
		phases = append(phases, phs...)
	}
	return phases, nil
}

// idle leaves the converged manager alone.
func (r *managedRun) idle(ctx context.Context) (Phase, error) {
	before, err := r.m.reconciles(ctx)
	if err != nil {
		return Phase{}, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return Phase{}, ctx.Err()
	case <-time.After(r.b.opts.idle):
	}
	return r.phase(ctx, "idle", fmt.Sprintf("converged manager left alone for %s", r.b.opts.idle), start, before)
}

// forcedPass makes the manager reconcile everything without changing what
// it enforces: an annotation on the profile (its predicate passes
// annotation changes) and an unrelated label on governed namespaces (its
// namespace predicate passes label changes).
func (r *managedRun) forcedPass(ctx context.Context) (Phase, error) {
	before, err := r.m.reconciles(ctx)
	if err != nil {
		return Phase{}, err
	}
	start := time.Now()
	stamp := strconv.FormatInt(start.UnixNano(), 10)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, touchAnnotation, stamp)
	if err := r.p.crd.Patch(ctx, r.b.profile.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		return Phase{}, fmt.Errorf("annotate profile: %w", err)
	}
	n := min(touchedNamespaces, len(r.plan.Governed))
	err = parallel(ctx, n, r.b.opts.concurrency, func(ctx context.Context, i int) error {
		name := r.plan.Governed[i*len(r.plan.Governed)/n].Name
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, touchLabel, stamp)
		if _, err := r.p.admin.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("touch namespace %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return Phase{}, err
	}
	if _, err := r.m.settle(ctx, before, settleQuiet, r.b.opts.timeout); err != nil {
		return Phase{}, err
	}
	return r.phase(ctx, "forced pass", fmt.Sprintf("profile annotated and an unrelated label set on %d governed namespaces", n), start, before)
}

// restartWithResync restarts the manager with a short --sync-period: the
// restart's pass is one window, the informer resync that follows another.
func (r *managedRun) restartWithResync(ctx context.Context) ([]Phase, error) {
	resync := r.b.opts.resync
	start := time.Now()
	if err := r.restart(ctx, "--sync-period="+resync.String()); err != nil {
		return nil, err
	}
	after, err := r.m.settle(ctx, 0, settleQuiet, r.b.opts.timeout)
	if err != nil {
		return nil, err
	}
	restart, err := r.phase(ctx, "restart", fmt.Sprintf("SIGTERM, then the manager started again with --sync-period=%s, until its first passes settled", resync), start, 0)
	if err != nil {
		return nil, err
	}

	start = time.Now()
	// controller-runtime jitters the period by up to 10%, and registers its
	// event handlers after the informers start, so client-go skips the
	// first tick of the resync timer: the resync comes after about twice
	// the period.
	if _, err := r.m.settle(ctx, after, settleQuiet, resync*22/10+r.b.opts.timeout); err != nil {
		return nil, fmt.Errorf("no resync: %w", err)
	}
	resynced, err := r.phase(ctx, "resync", fmt.Sprintf("informer resync (--sync-period=%s; the first comes after about two periods): every cached object redelivered", resync), start, after)
	return []Phase{restart, resynced}, err
}

// restartProduction restarts the manager with its production flags again,
// for the measurements that follow.
func (r *managedRun) restartProduction(ctx context.Context) (Phase, error) {
	start := time.Now()
	if err := r.restart(ctx); err != nil {
		return Phase{}, err
	}
	if _, err := r.m.settle(ctx, 0, settleQuiet, r.b.opts.timeout); err != nil {
		return Phase{}, err
	}
	return r.phase(ctx, "restart (production flags)", "SIGTERM, then the manager started again with its production flags, until its first passes settled", start, 0)
}

// restart stops the manager (SIGTERM releases its lease) and starts it again.
func (r *managedRun) restart(ctx context.Context, extra ...string) error {
	if r.cpuDone != nil {
		if err := r.cpuDone(); err != nil {
			return err
		}
	}
	if err := r.m.Stop(30 * time.Second); err != nil {
		return err
	}
	m, err := r.b.startManager(ctx, r.p, r.kubeconfig, extra...)
	if err != nil {
		return err
	}
	r.m = m
	return nil
}

// phase closes a window that began at start with before reconciles.
func (r *managedRun) phase(ctx context.Context, name, description string, start time.Time, before float64) (Phase, error) {
	end := time.Now()
	n, err := r.m.reconciles(ctx)
	if err != nil {
		return Phase{}, err
	}
	w, err := r.p.audit.writes(r.user, start, end)
	if err != nil {
		return Phase{}, err
	}
	return Phase{Name: name, Description: description, Reconciles: n - before, Writes: w}, nil
}
