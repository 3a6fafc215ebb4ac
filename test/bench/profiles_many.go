package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// ManyProfilesComparison is P profiles of N namespaces under one manager
// against one profile of N, each on a fresh plane: a pass of one profile
// should cost what N namespaces cost, not P x N.
type ManyProfilesComparison struct {
	// Many is P x N, One is 1 x N.
	Many ManyProfilesRun `json:"many"`
	One  ManyProfilesRun `json:"one"`
	// ScenarioSeconds is what both runs took, planes included.
	ScenarioSeconds float64 `json:"scenarioSeconds"`
}

// ManyProfilesRun is one manager with Profiles profiles.
type ManyProfilesRun struct {
	// Profiles and NamespacesPerProfile are P and N.
	Profiles             int `json:"profiles"`
	NamespacesPerProfile int `json:"namespacesPerProfile"`
	// ReadySeconds is from the manager's start until every profile is
	// Ready=True and every namespace enforced; FromProfilesSeconds counts
	// from the first profile's creation (all are created at once).
	ReadySeconds        float64 `json:"readySeconds"`
	FromProfilesSeconds float64 `json:"fromProfilesSeconds"`
	// Writes are the manager's writes from its start until it settled.
	Writes Writes `json:"writes"`
	// Memory is the manager's memory once settled.
	Memory Memory `json:"memory"`
	// Drift is the drift repair latency of tamperings spread round robin
	// over the profiles; DriftPasses the reconciles meanwhile.
	Drift       Latencies `json:"drift"`
	DriftPasses Passes    `json:"driftPasses"`
	DriftWrites Writes    `json:"driftWrites"`
	// DriftByKind summarizes each kind of tampering: a namespace's label
	// change reaches every profile (the controller maps namespace events
	// to all profiles), a policy's only its owner.
	DriftByKind map[string]Latencies `json:"driftByKind"`
}

// compareManyProfiles runs P x N, then 1 x N.
func (b *bench) compareManyProfiles(ctx context.Context, profiles, n int) (*ManyProfilesComparison, error) {
	began := time.Now()
	out := &ManyProfilesComparison{}
	for _, p := range []int{profiles, 1} {
		b.logf("%d profile(s) of %d namespaces under one manager", p, n)
		r, err := b.runManyProfiles(ctx, p, n)
		if err != nil {
			return nil, fmt.Errorf("%dx%d: %w", p, n, err)
		}
		if p == 1 {
			out.One = r
		} else {
			out.Many = r
		}
	}
	out.ScenarioSeconds = seconds(time.Since(began))
	return out, nil
}

// runManyProfiles measures one manager with profiles profiles on a fresh
// plane.
func (b *bench) runManyProfiles(ctx context.Context, profiles, n int) (ManyProfilesRun, error) {
	l := manyProfilesLayout(profiles, n, b.opts.unrelated)
	dir := filepath.Join(b.workDir, fmt.Sprintf("profiles-%dx%d", profiles, n))
	p, err := startPlane(ctx, dir, b.configDir)
	if err != nil {
		return ManyProfilesRun{}, err
	}
	r := &managedRun{b: b, l: l, p: p, user: harness.ManagerUser}
	out, err := r.manyProfiles(ctx, profiles, n)
	return out, r.end(err)
}

// tenant names profile k's namespaces' tenant label value.
func tenant(k int) string { return fmt.Sprintf("t%02d", k) }

// manyProfilesLayout gives each of profiles tenants n namespaces, round
// robin over the tiers, labelled env=<tier> and tenant=<tenant>.
func manyProfilesLayout(profiles, n, unrelated int) layout {
	l := newLayout(0, unrelated)
	for k := range profiles {
		for i := range n {
			tier := tiers[i%len(tiers)]
			name := fmt.Sprintf("%s-%s-%05d", tenant(k), tier, i)
			l.Governed = append(l.Governed, name)
			l.labels[name] = map[string]string{"env": tier, "tenant": tenant(k), "team": fmt.Sprintf("team-%d", i%50)}
		}
	}
	return l
}

// tenantProfile is the sample profile for tenant k: its own name and
// tierLabelKey, its tiers selecting the tenant's namespaces only.
func tenantProfile(sample *segv1.SegmentationProfile, k int) *segv1.SegmentationProfile {
	p := sample.DeepCopy()
	p.Name = fmt.Sprintf("%s-%s", sample.Name, tenant(k))
	p.Spec.TierLabelKey = segv1.LabelKey(fmt.Sprintf("%s.tierguard.io/tier", tenant(k)))
	for i := range p.Spec.Tiers {
		t := &p.Spec.Tiers[i]
		t.Namespaces.Names = nil
		if t.Namespaces.Selector != nil {
			t.Namespaces.Selector.MatchLabels["tenant"] = segv1.LabelValue(tenant(k))
		}
	}
	return p
}

func (r *managedRun) manyProfiles(ctx context.Context, profiles, n int) (ManyProfilesRun, error) {
	out := ManyProfilesRun{Profiles: profiles, NamespacesPerProfile: n}
	b := r.b
	b.noteVersion(r.p)
	if err := r.l.create(ctx, r.p.admin); err != nil {
		return out, err
	}
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := r.connect(ctx, octx)
	if err != nil {
		return out, err
	}
	namespaces := r.obsNamespaces()
	if r.m, err = b.startManager(ctx, r.p, r.kubeconfig); err != nil {
		return out, err
	}
	created := time.Now()
	var (
		plans []*render.Plan
		waits []func(context.Context, time.Duration) (time.Time, error)
		names []string
	)
	for k := range profiles {
		profile, err := createProfile(ctx, r.p.crd, tenantProfile(b.profile, k))
		if err != nil {
			return out, err
		}
		plan, err := planFor(profile, namespaces)
		if err != nil {
			return out, err
		}
		if len(plan.Governed) != n {
			return out, fmt.Errorf("profile %s governs %d namespaces, the layout %d", profile.Name, len(plan.Governed), n)
		}
		plans, names = append(plans, plan), append(names, profile.Name)
		waits = append(waits, r.obs.expectEnforced(plan))
	}
	end := created
	for k := range profiles {
		ready, err := r.obs.awaitReady(ctx, names[k], n, b.opts.timeout)
		if err != nil {
			return out, err
		}
		enforced, err := waits[k](ctx, b.opts.timeout)
		if err != nil {
			return out, err
		}
		end = latest(end, ready, enforced)
	}
	if _, err := r.m.settle(ctx, 0, settleQuiet, b.opts.timeout); err != nil {
		return out, err
	}
	out.ReadySeconds, out.FromProfilesSeconds = seconds(end.Sub(r.m.Started)), seconds(end.Sub(created))
	if out.Writes, err = r.p.audit.writes(r.user, r.m.Started, time.Now()); err != nil {
		return out, err
	}
	if out.Memory, err = r.m.memory(ctx); err != nil {
		return out, err
	}
	b.logf("  %dx%d: Ready and enforced after %.3fs (%.3fs from the profiles' creation), %d state writes, peak RSS %.1f MiB",
		profiles, n, out.ReadySeconds, out.FromProfilesSeconds, out.Writes.StateTotal, out.Memory.PeakRSSMiB)
	return out, r.spreadDrift(ctx, plans, &out)
}

// spreadDrift tampers with namespaces of each profile in turn, as drift.go
// does with one, and times the repairs.
func (r *managedRun) spreadDrift(ctx context.Context, plans []*render.Plan, out *ManyProfilesRun) error {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	meter, err := r.m.meterPasses(ctx)
	if err != nil {
		return err
	}
	var all []time.Duration
	byKind := map[string][]time.Duration{}
	for i := range r.b.opts.tamperings {
		r.plan = plans[i%len(plans)]
		g := &r.plan.Governed[rng.IntN(len(r.plan.Governed))]
		kind := tamperKinds[rng.IntN(len(tamperKinds))]
		d, err := r.tamper(ctx, g, kind, tiers[rng.IntN(len(tiers))])
		if err != nil {
			return fmt.Errorf("tampering %d (%s in %s): %w", i, kind, g.Name, err)
		}
		all = append(all, d)
		byKind[kind] = append(byKind[kind], d)
		if err := pause(ctx, r.b.opts.gap); err != nil {
			return err
		}
	}
	if _, err := r.m.settle(ctx, -1, settleQuiet, r.b.opts.timeout); err != nil {
		return err
	}
	out.Drift, out.DriftByKind = latenciesOf(all), map[string]Latencies{}
	for kind, ds := range byKind {
		out.DriftByKind[kind] = latenciesOf(ds)
	}
	if out.DriftPasses, err = meter.done(ctx); err != nil {
		return err
	}
	if out.DriftWrites, err = r.p.audit.writes(r.user, start, time.Now()); err != nil {
		return err
	}
	r.b.logf("  drift repair over %d profile(s): p50 %.1f ms, p99 %.1f ms, max %.1f ms; %v reconciles of %.1f ms on average (%v delta, %v full passes)",
		len(plans), out.Drift.P50, out.Drift.P99, out.Drift.Max, out.DriftPasses.Count, out.DriftPasses.MeanMs, out.DriftPasses.Delta, out.DriftPasses.Full)
	return nil
}

// latest returns the latest of times.
func latest(t time.Time, more ...time.Time) time.Time {
	for _, m := range more {
		if m.After(t) {
			t = m
		}
	}
	return t
}
