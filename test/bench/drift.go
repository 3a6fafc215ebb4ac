package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tierguard/tierguard/internal/render"
)

// tamperFieldManager names the tamperer in managedFields, as kubectl-edit
// would name a person.
const tamperFieldManager = "bench-tamper"

// Kinds of tampering.
const (
	tamperPolicyEdit   = "policy edit"
	tamperPolicyDelete = "policy delete"
	tamperLabelChange  = "label change"
)

// tamperKinds are drawn uniformly.
var tamperKinds = []string{tamperPolicyEdit, tamperPolicyDelete, tamperLabelChange}

// DriftResult is the latency of drift repairs: from the tampering's write
// returning to the watch showing the object as planned again.
type DriftResult struct {
	// All summarizes every tampering.
	All Latencies `json:"all"`
	// ByKind summarizes each kind of tampering.
	ByKind map[string]Latencies `json:"byKind"`
	// Writes are the manager's writes during the run (a repair, a status
	// patch and an event per tampering are expected).
	Writes Writes `json:"writes"`
	// Passes are the manager's reconciles during the run.
	Passes Passes `json:"passes"`
}

// drift tampers with random governed namespaces one at a time and times
// each repair. A pause follows each repair so that tamperings are separate
// incidents rather than a burst.
func (r *managedRun) drift(ctx context.Context) (*DriftResult, error) {
	rng := rand.New(rand.NewPCG(1, 2)) // the same tamperings every run
	byKind := map[string][]time.Duration{}
	var all []time.Duration
	start := time.Now()
	meter, err := r.m.meterPasses(ctx)
	if err != nil {
		return nil, err
	}
	if r.cpuProfile != "" {
		r.driftCPUDone = startCPUProfile(ctx, r.m, r.b.opts.driftProfileSeconds, r.driftProfile())
	}
	for i := range r.b.opts.tamperings {
		g := &r.plan.Governed[rng.IntN(len(r.plan.Governed))]
		kind := tamperKinds[rng.IntN(len(tamperKinds))]
		d, err := r.tamper(ctx, g, kind, tiers[rng.IntN(len(tiers))])
		if err != nil {
			return nil, fmt.Errorf("tampering %d (%s in %s): %w", i, kind, g.Name, err)
		}
		all = append(all, d)
		byKind[kind] = append(byKind[kind], d)
		if err := pause(ctx, r.b.opts.gap); err != nil {
			return nil, err
		}
	}
	if _, err := r.m.settle(ctx, -1, settleQuiet, r.b.opts.timeout); err != nil {
		return nil, err
	}
	res := &DriftResult{All: latenciesOf(all), ByKind: map[string]Latencies{}}
	for kind, ds := range byKind {
		res.ByKind[kind] = latenciesOf(ds)
	}
	if res.Passes, err = meter.done(ctx); err != nil {
		return nil, err
	}
	if res.Writes, err = r.p.audit.writes(r.user, start, time.Now()); err != nil {
		return nil, err
	}
	r.b.logf("  drift repair: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d tamperings; %d state writes; %v reconciles of %.1f ms on average (%v delta, %v full passes)",
		res.All.P50, res.All.P99, res.All.Max, res.All.Count, res.Writes.StateTotal, res.Passes.Count, res.Passes.MeanMs, res.Passes.Delta, res.Passes.Full)
	return res, nil
}

// tamper makes one change and returns how long the repair took to be seen.
func (r *managedRun) tamper(ctx context.Context, g *render.GovernedNamespace, kind, otherTier string) (time.Duration, error) {
	policies := r.p.admin.NetworkingV1().NetworkPolicies(g.Name)
	var (
		rv       string
		repaired func() bool
	)
	switch kind {
	case tamperPolicyEdit:
		// Replace the ingress rules with one that admits everything.
		patch := []byte(`{"spec":{"ingress":[{}]}}`)
		pol, err := policies.Patch(ctx, render.PolicyName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: tamperFieldManager})
		if err != nil {
			return 0, err
		}
		rv = pol.ResourceVersion
		repaired = func() bool { return r.policyRepaired(g, rv) }
	case tamperPolicyDelete:
		// The deleted object's version, read first: the re-created policy
		// is newer.
		pol, err := policies.Get(ctx, render.PolicyName, metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		rv = pol.ResourceVersion
		if err := policies.Delete(ctx, render.PolicyName, metav1.DeleteOptions{}); err != nil {
			return 0, err
		}
		repaired = func() bool { return r.policyRepaired(g, rv) }
	case tamperLabelChange:
		key := r.plan.TierLabelKey
		wrong := otherTier
		if wrong == g.Labels[key] {
			wrong = tiers[(slices.Index(tiers, wrong)+1)%len(tiers)]
		}
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, key, wrong)
		ns, err := r.p.admin.CoreV1().Namespaces().Patch(ctx, g.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: tamperFieldManager})
		if err != nil {
			return 0, err
		}
		rv = ns.ResourceVersion
		repaired = func() bool {
			ns := r.obs.namespace(g.Name)
			return ns != nil && newerThan(ns, rv) && hasLabels(ns.Labels, g.Labels)
		}
	default:
		return 0, fmt.Errorf("unknown tampering %q", kind)
	}
	written := time.Now()
	at, err := r.obs.awaitAll(ctx, []<-chan time.Time{r.obs.await(g.Name, repaired)}, r.b.opts.timeout,
		func(int) string { return kind + " not repaired" })
	if err != nil {
		return 0, err
	}
	return at.Sub(written), nil
}

// policyRepaired reports whether the namespace's policy is newer than rv
// and as planned.
func (r *managedRun) policyRepaired(g *render.GovernedNamespace, rv string) bool {
	pol := r.obs.policy(g.Name)
	return pol != nil && newerThan(pol, rv) && r.obs.policyEnforced(g)
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
