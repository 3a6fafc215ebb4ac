package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NewNamespaceResult is the latency from a namespace's creation returning to
// the watch showing its policy, and its policy and labels.
type NewNamespaceResult struct {
	// Policy: the policy is present and as planned.
	Policy Latencies `json:"policy"`
	// Enforced: the policy and the labels are as planned.
	Enforced Latencies `json:"enforced"`
	// Writes are the manager's writes during the run (two per namespace
	// and status patches are expected).
	Writes Writes `json:"writes"`
	// Passes are the manager's reconciles during the run.
	Passes Passes `json:"passes"`
}

// newNamespaces creates namespaces of the three tiers one at a time and
// times each until it is enforced.
func (r *managedRun) newNamespaces(ctx context.Context) (*NewNamespaceResult, error) {
	profile, err := r.storedProfile()
	if err != nil {
		return nil, err
	}
	var toPolicy, toEnforced []time.Duration
	start := time.Now()
	meter, err := r.m.meterPasses(ctx)
	if err != nil {
		return nil, err
	}
	for i := range r.b.opts.newNamespaces {
		tier := tiers[i%len(tiers)]
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("new-%s-%04d", tier, i), Labels: map[string]string{"env": tier},
		}}
		plan, err := planFor(profile, []corev1.Namespace{*ns})
		if err != nil {
			return nil, err
		}
		if len(plan.Governed) != 1 {
			return nil, fmt.Errorf("namespace %s: the profile governs %d namespaces, want 1", ns.Name, len(plan.Governed))
		}
		g := &plan.Governed[0]
		if _, err := r.p.admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create namespace %s: %w", ns.Name, err)
		}
		created := time.Now()
		policy := r.obs.await(ns.Name, func() bool { return r.obs.policyEnforced(g) })
		enforced := r.obs.await(ns.Name, func() bool { return r.obs.enforced(g) })
		for _, w := range []struct {
			ch  <-chan time.Time
			out *[]time.Duration
		}{{policy, &toPolicy}, {enforced, &toEnforced}} {
			at, err := r.obs.awaitAll(ctx, []<-chan time.Time{w.ch}, r.b.opts.timeout, func(int) string { return ns.Name + " not enforced" })
			if err != nil {
				return nil, err
			}
			*w.out = append(*w.out, at.Sub(created))
		}
		if err := pause(ctx, r.b.opts.gap); err != nil {
			return nil, err
		}
	}
	if _, err := r.m.settle(ctx, -1, settleQuiet, r.b.opts.timeout); err != nil {
		return nil, err
	}
	res := &NewNamespaceResult{Policy: latenciesOf(toPolicy), Enforced: latenciesOf(toEnforced)}
	if res.Passes, err = meter.done(ctx); err != nil {
		return nil, err
	}
	if res.Writes, err = r.p.audit.writes(r.user, start, time.Now()); err != nil {
		return nil, err
	}
	r.b.logf("  new namespace to policy: p50 %.1f ms, p99 %.1f ms; to policy and labels: p50 %.1f ms, p99 %.1f ms; %d state writes; %v reconciles of %.1f ms on average",
		res.Policy.P50, res.Policy.P99, res.Enforced.P50, res.Enforced.P99, res.Writes.StateTotal, res.Passes.Count, res.Passes.MeanMs)
	return res, nil
}
