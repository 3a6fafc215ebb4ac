package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// stateResources are the resources Tierguard manages, as the audit log
// names them.
var stateResources = []string{"namespaces", "networkpolicies"}

// ColdStart is one cold start: the namespaces exist, the manager starts,
// the profile is applied at once, and the clock stops when the profile is
// Ready=True and the watch shows every governed namespace enforced. Times
// are seconds from the manager's process start.
type ColdStart struct {
	// Seconds is T_cold.
	Seconds float64 `json:"seconds"`
	// FromProfileSeconds is T_cold counted from the profile's creation.
	FromProfileSeconds float64 `json:"fromProfileSeconds"`
	// ServingSeconds: the manager answers its readiness probe, and the
	// profile is created.
	ServingSeconds float64 `json:"servingSeconds"`
	// LeaseSeconds: the manager's first lease write (leadership acquired).
	LeaseSeconds float64 `json:"leaseSeconds"`
	// FirstWriteSeconds and LastWriteSeconds: its first and last write to a
	// namespace or policy, as the API server received them.
	FirstWriteSeconds float64 `json:"firstWriteSeconds"`
	LastWriteSeconds  float64 `json:"lastWriteSeconds"`
	// EnforcedSeconds: the watch shows the last namespace enforced.
	EnforcedSeconds float64 `json:"enforcedSeconds"`
	// ReadySeconds: the watch shows Ready=True.
	ReadySeconds float64 `json:"readySeconds"`
	// PerNamespaceMs is T_cold divided by the governed namespaces.
	PerNamespaceMs float64 `json:"perNamespaceMs"`
	// Writes are the manager's writes from its start until it settled.
	Writes Writes `json:"writes"`
}

// coldStart starts the manager, applies the profile and measures until the
// cluster is enforced; it returns the running manager and the plan.
func (r *managedRun) coldStart(ctx context.Context) (*managerProc, *render.Plan, ColdStart, error) {
	var c ColdStart
	m, err := r.b.startManager(ctx, r.p, r.kubeconfig)
	if err != nil {
		return nil, nil, c, err
	}
	served := time.Now()
	if r.cpuProfile != "" {
		r.cpuDone = startCPUProfile(ctx, m, r.b.opts.cpuProfileSeconds, r.cpuProfile)
	}
	created := time.Now()
	profile, err := createProfile(ctx, r.p.crd, r.b.profile)
	if err != nil {
		return m, nil, c, err
	}
	plan, err := planFor(profile, r.obsNamespaces())
	if err != nil {
		return m, nil, c, err
	}
	if len(plan.Governed) != len(r.l.Governed) {
		return m, nil, c, fmt.Errorf("the profile governs %d namespaces, the layout %d", len(plan.Governed), len(r.l.Governed))
	}
	wait := r.obs.expectEnforced(plan)
	ready, err := r.obs.awaitReady(ctx, profile.Name, len(plan.Governed), r.b.opts.timeout)
	if err != nil {
		return m, plan, c, err
	}
	enforced, err := wait(ctx, r.b.opts.timeout)
	if err != nil {
		return m, plan, c, err
	}
	end := ready
	if enforced.After(end) {
		end = enforced
	}
	if _, err := m.settle(ctx, 0, settleQuiet, r.b.opts.timeout); err != nil {
		return m, plan, c, err
	}
	settled := time.Now()

	since := func(t time.Time) float64 { return seconds(t.Sub(m.Started)) }
	c = ColdStart{
		Seconds: since(end), FromProfileSeconds: seconds(end.Sub(created)), ServingSeconds: since(served),
		EnforcedSeconds: since(enforced), ReadySeconds: since(ready),
		PerNamespaceMs: round3(float64(end.Sub(m.Started)) / float64(time.Millisecond) / float64(len(plan.Governed))),
	}
	if c.Writes, err = r.p.audit.writes(r.user, m.Started, settled); err != nil {
		return m, plan, c, err
	}
	if t, ok, err := r.p.audit.firstWrite(r.user, "leases", m.Started, settled); err == nil && ok {
		c.LeaseSeconds = since(t)
	}
	if first, last, ok, err := r.p.audit.writeSpan(r.user, stateResources, m.Started, settled); err == nil && ok {
		c.FirstWriteSeconds, c.LastWriteSeconds = since(first), since(last)
	}
	r.b.logf("  T_cold = %.3fs from the manager's start (%.3fs from the profile's creation), %d state writes",
		c.Seconds, c.FromProfileSeconds, c.Writes.StateTotal)
	return m, plan, c, nil
}

// obsNamespaces returns the namespaces the observer holds.
func (r *managedRun) obsNamespaces() []corev1.Namespace {
	var out []corev1.Namespace
	for _, obj := range r.obs.namespaces.GetStore().List() {
		out = append(out, *obj.(*corev1.Namespace))
	}
	return out
}

// storedProfile returns the profile as the observer last saw it.
func (r *managedRun) storedProfile() (*segv1.SegmentationProfile, error) {
	p := r.obs.profile(r.b.profile.Name)
	if p == nil {
		return nil, fmt.Errorf("profile %s not observed", r.b.profile.Name)
	}
	return p, nil
}
