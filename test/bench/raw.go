package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// rawServiceAccount is the raw client's identity: a ServiceAccount bound to
// the manager's roles, so its requests cross the same authorization and
// audit path as the manager's.
const rawServiceAccount = "tierguard-bench-raw"

// rawFieldManager is the raw client's field manager.
const rawFieldManager = "bench-raw"

// RawRun is one measurement of the physical limit.
type RawRun struct {
	// Concurrency is how many writes the client kept in flight (0 in
	// results older than the sweep: 16).
	Concurrency int `json:"concurrency,omitempty"`
	// Seconds is T_raw: from the first write to the watch showing every
	// namespace enforced, the criterion the cold start uses.
	Seconds float64 `json:"seconds"`
	// WritesReturnedSeconds is when the last write returned.
	WritesReturnedSeconds float64 `json:"writesReturnedSeconds"`
	// Writes are the writes the API server recorded.
	Writes Writes `json:"writes"`
}

// runRaw measures, on a fresh plane, how fast a tight client makes the
// writes Tierguard needs for the layout: one labels server-side apply and
// one policy create per governed namespace, concurrency writes in flight.
//
// With apply set, the policy is server-side applied instead, with the body
// the manager sends: what the same writes cost when made as Tierguard makes
// them (an apply keeps a field manager's ownership, so later applies can
// remove what a plan no longer holds).
func (b *bench) runRaw(ctx context.Context, l layout, run, concurrency int, apply bool) (RawRun, error) {
	dir := filepath.Join(b.workDir, fmt.Sprintf("raw-%d-%d-%d-%v", len(l.Governed), concurrency, run, apply))
	p, err := startPlane(ctx, dir, b.configDir)
	if err != nil {
		return RawRun{}, err
	}
	r, err := b.measureRaw(ctx, p, l, concurrency, apply)
	if err != nil {
		return r, p.stopWith(err)
	}
	return r, p.stop(b.opts.keep)
}

func (b *bench) measureRaw(ctx context.Context, p *plane, l layout, concurrency int, apply bool) (RawRun, error) {
	b.noteVersion(p)
	began := time.Now()
	if err := l.create(ctx, p.admin); err != nil {
		return RawRun{}, err
	}
	b.logf("  populated %d namespaces in %s", len(l.all()), time.Since(began).Round(time.Second))
	cfg, _, err := p.serviceAccount(ctx, rawServiceAccount)
	if err != nil {
		return RawRun{}, err
	}
	raw, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return RawRun{}, fmt.Errorf("raw client: %w", err)
	}
	// The same profile as the manager's plane, so policies carry the same
	// owner reference (and the garbage collector tracks them the same way).
	profile, err := createProfile(ctx, p.crd, b.profile)
	if err != nil {
		return RawRun{}, err
	}
	plan, err := expectedPlan(ctx, p.admin, profile)
	if err != nil {
		return RawRun{}, err
	}
	// The observer stops with this run, before the plane does.
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs, err := newObserver(octx, p.adminCfg)
	if err != nil {
		return RawRun{}, err
	}
	wait := obs.expectEnforced(plan)

	start := time.Now()
	err = parallel(ctx, len(plan.Governed), concurrency, func(ctx context.Context, i int) error {
		return rawWrites(ctx, raw, &plan.Governed[i], apply)
	})
	returned := time.Now()
	if err != nil {
		return RawRun{}, err
	}
	last, err := wait(ctx, 5*time.Minute)
	if err != nil {
		return RawRun{}, fmt.Errorf("raw writes: %w", err)
	}
	end := time.Now()
	writes, err := p.audit.writes(harness.ServiceAccountUser(rawServiceAccount), start, end.Add(time.Second))
	if err != nil {
		return RawRun{}, err
	}
	r := RawRun{Concurrency: concurrency, Seconds: seconds(last.Sub(start)), WritesReturnedSeconds: seconds(returned.Sub(start)), Writes: writes}
	b.logf("  T_raw (policy %s, %d in flight) = %.3fs (writes returned after %.3fs), %d writes", rawKind(apply), concurrency, r.Seconds, r.WritesReturnedSeconds, writes.StateTotal)
	return r, nil
}

// rawWrites makes Tierguard's two writes for one namespace.
func rawWrites(ctx context.Context, c kubernetes.Interface, g *render.GovernedNamespace, apply bool) error {
	ac := corev1ac.Namespace(g.Name).WithLabels(g.Labels)
	if _, err := c.CoreV1().Namespaces().Apply(ctx, ac, metav1.ApplyOptions{FieldManager: rawFieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply labels to namespace %s: %w", g.Name, err)
	}
	pol := g.Policy.DeepCopy()
	if apply {
		data, err := json.Marshal(pol)
		if err != nil {
			return err
		}
		force := true
		if _, err := c.NetworkingV1().NetworkPolicies(g.Name).Patch(ctx, pol.Name, types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: rawFieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply policy %s/%s: %w", g.Name, pol.Name, err)
		}
		return nil
	}
	if _, err := c.NetworkingV1().NetworkPolicies(g.Name).Create(ctx, pol, metav1.CreateOptions{FieldManager: rawFieldManager}); err != nil {
		return fmt.Errorf("create policy %s/%s: %w", g.Name, pol.Name, err)
	}
	return nil
}
