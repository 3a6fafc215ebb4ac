package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// profileEdit is a change users make to a converged profile.
type profileEdit struct {
	name   string
	change func(p *segv1.SegmentationProfile)
}

// profileEdits are made in this order, each on the state the previous one
// left: the profile starts in Audit mode with NetworkPolicy enforcement.
var profileEdits = []profileEdit{
	{"switch mode Audit to Enforce", func(p *segv1.SegmentationProfile) { p.Spec.Mode = segv1.ModeEnforce }},
	{"add a flow test to prod (TCP 8443): every prod policy changes", func(p *segv1.SegmentationProfile) {
		p.Spec.Flows = append(p.Spec.Flows, flow("test", "prod", 8443))
	}},
	{"rename tier test to staging", func(p *segv1.SegmentationProfile) { renameTier(p, "test", "staging") }},
	{"change dev's namespaceLabels (pod-security enforce baseline to restricted)", func(p *segv1.SegmentationProfile) {
		for i := range p.Spec.Tiers {
			if p.Spec.Tiers[i].Name == "dev" {
				p.Spec.Tiers[i].NamespaceLabels["pod-security.kubernetes.io/enforce"] = "restricted"
			}
		}
	}},
	{"switch enforcement NetworkPolicy to ClusterNetworkPolicy", func(p *segv1.SegmentationProfile) {
		p.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy
	}},
	{"add a flow dev to prod (TCP 8080), ClusterNetworkPolicy enforcement", func(p *segv1.SegmentationProfile) {
		p.Spec.Flows = append(p.Spec.Flows, flow("dev", "prod", 8080))
	}},
}

// flow is a TCP flow on one port.
func flow(from, to string, port int) segv1.Flow {
	p := intstr.FromInt32(int32(port))
	return segv1.Flow{From: segv1.TierName(from), To: segv1.TierName(to), Ports: []segv1.NetworkPolicyPort{{Protocol: segv1.Protocol(corev1.ProtocolTCP), Port: &p}}}
}

// renameTier renames a tier and the flows that name it.
func renameTier(p *segv1.SegmentationProfile, from, to segv1.TierName) {
	for i := range p.Spec.Tiers {
		if p.Spec.Tiers[i].Name == from {
			p.Spec.Tiers[i].Name = to
		}
	}
	for i := range p.Spec.Flows {
		f := &p.Spec.Flows[i]
		if f.From == from {
			f.From = to
		}
		if f.To == from {
			f.To = to
		}
	}
}

// runEdits measures the profile edits at n governed namespaces on a fresh
// plane with the ClusterNetworkPolicy CRD: the manager's edits first, then,
// the manager stopped and the plane reset to the Audit state, the raw
// client's writes of exactly the objects each edit changed, in the same
// order.
func (b *bench) runEdits(ctx context.Context, n int) (*EditRun, error) {
	began := time.Now()
	l := newLayout(n, b.opts.unrelated)
	dir := filepath.Join(b.workDir, fmt.Sprintf("edits-%d", n))
	p, err := startPlane(ctx, dir, b.configDir)
	if err != nil {
		return nil, err
	}
	r := &managedRun{b: b, l: l, p: p, user: harness.ManagerUser}
	out, err := r.edits(ctx)
	if err = r.end(err); err != nil {
		return nil, err
	}
	out.ScenarioSeconds = seconds(time.Since(began))
	return out, nil
}

func (r *managedRun) edits(ctx context.Context) (*EditRun, error) {
	b := r.b
	out := &EditRun{Namespaces: len(r.l.Governed), RawConcurrency: b.rawConcurrency()}
	b.noteVersion(r.p)
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := harness.InstallClusterNetworkPolicyCRD(ctx, r.p.kubectl); err != nil {
		return nil, err
	}
	if err := r.l.create(ctx, r.p.admin); err != nil {
		return nil, err
	}
	err := r.connect(ctx, octx)
	if err != nil {
		return nil, err
	}
	cnps, err := watchCNPs(octx, r.p.adminCfg, r.obs)
	if err != nil {
		return nil, err
	}
	namespaces := r.obsNamespaces()

	// The profile in Audit mode: the manager plans and reports, and writes
	// no label and no policy.
	if r.m, err = b.startManager(ctx, r.p, r.kubeconfig); err != nil {
		return nil, err
	}
	audit := b.profile.DeepCopy()
	audit.Spec.Mode = segv1.ModeAudit
	created := time.Now()
	profile, err := createProfile(ctx, r.p.crd, audit)
	if err != nil {
		return nil, err
	}
	ready, err := r.obs.awaitReady(ctx, profile.Name, len(r.l.Governed), b.opts.timeout)
	if err != nil {
		return nil, fmt.Errorf("audit mode: %w", err)
	}
	if _, err := r.m.settle(ctx, 0, settleQuiet, b.opts.timeout); err != nil {
		return nil, err
	}
	out.AuditReadySeconds = seconds(ready.Sub(created))
	if out.AuditWrites, err = r.p.audit.writes(r.user, r.m.Started, time.Now()); err != nil {
		return nil, err
	}
	b.logf("  Audit mode: Ready after %.3fs from the profile's creation; %d state writes (%s)", out.AuditReadySeconds, out.AuditWrites.StateTotal, writesText(out.AuditWrites))

	states := []planState{}
	prev, err := stateOf(profile, namespaces)
	if err != nil {
		return nil, err
	}
	states = append(states, prev)
	for _, e := range profileEdits {
		res, next, err := r.managerEdit(ctx, cnps, e, prev, namespaces)
		if err != nil {
			return nil, fmt.Errorf("edit %q: %w", e.name, err)
		}
		out.Edits = append(out.Edits, res)
		states = append(states, next)
		prev = next
	}
	if err := r.m.Stop(15 * time.Second); err != nil {
		return nil, err
	}
	r.m = nil
	if err := r.rawEdits(ctx, cnps, states, out); err != nil {
		return nil, err
	}
	return out, nil
}

// managerEdit makes one edit to the profile and measures the manager until
// the watch shows every changed object as planned and the manager settled.
func (r *managedRun) managerEdit(ctx context.Context, cnps *cnpWatch, e profileEdit, prev planState,
	namespaces []corev1.Namespace) (EditResult, planState, error) {
	b := r.b
	stored := &segv1.SegmentationProfile{}
	if err := r.p.crd.Get(ctx, client.ObjectKey{Name: b.profile.Name}, stored); err != nil {
		return EditResult{}, prev, fmt.Errorf("get profile: %w", err)
	}
	updated := stored.DeepCopy()
	e.change(updated)
	next, err := stateOf(updated, namespaces)
	if err != nil {
		return EditResult{}, prev, err
	}
	changes := diffStates(prev, next)
	res := EditResult{Edit: e.name, Changed: countChanges(changes), ChangedTotal: len(changes)}
	before, err := r.m.reconciles(ctx)
	if err != nil {
		return res, prev, err
	}
	meter, err := r.m.meterPasses(ctx)
	if err != nil {
		return res, prev, err
	}
	wait := expectChanges(r.obs, cnps, changes)
	start := time.Now()
	// A merge patch without resourceVersion: the manager's status writes
	// do not make it conflict.
	if err := r.p.crd.Patch(ctx, updated, client.MergeFrom(stored)); err != nil {
		return res, prev, fmt.Errorf("patch profile: %w", err)
	}
	last, err := wait(ctx, b.opts.timeout)
	if err != nil {
		return res, prev, err
	}
	ready, err := r.obs.awaitReady(ctx, b.profile.Name, len(r.l.Governed), b.opts.timeout)
	if err != nil {
		return res, prev, err
	}
	if _, err := r.m.settle(ctx, before, settleQuiet, b.opts.timeout); err != nil {
		return res, prev, err
	}
	res.ManagerSeconds, res.ManagerReadySeconds = seconds(last.Sub(start)), seconds(ready.Sub(start))
	if len(changes) == 0 {
		res.ManagerSeconds = 0
	}
	if res.Passes, err = meter.done(ctx); err != nil {
		return res, prev, err
	}
	if res.ManagerWrites, err = r.p.audit.writes(r.user, start, time.Now()); err != nil {
		return res, prev, err
	}
	b.logf("  %s: %d objects changed; manager %.3fs (Ready %.3fs), %d state writes, %v reconciles",
		e.name, len(changes), res.ManagerSeconds, res.ManagerReadySeconds, res.ManagerWrites.StateTotal, res.Passes.Count)
	return res, next, nil
}

// rawEdits resets the plane to the first state with admin writes, then
// replays each edit's changed objects with the raw client.
func (r *managedRun) rawEdits(ctx context.Context, cnps *cnpWatch, states []planState, out *EditRun) error {
	b := r.b
	admin, err := newObjectWriter(r.p.adminCfg, "bench-reset")
	if err != nil {
		return err
	}
	reset := diffStates(states[len(states)-1], states[0])
	wait := expectChanges(r.obs, cnps, reset)
	if err := parallel(ctx, len(reset), populateWorkers, func(ctx context.Context, i int) error {
		return admin.reset(ctx, &reset[i])
	}); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if _, err := wait(ctx, b.opts.timeout); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	cfg, _, err := r.p.serviceAccount(ctx, rawServiceAccount)
	if err != nil {
		return err
	}
	raw, err := newObjectWriter(cfg, rawFieldManager)
	if err != nil {
		return err
	}
	user := harness.ServiceAccountUser(rawServiceAccount)
	var windows []time.Time
	for i := range out.Edits {
		changes := diffStates(states[i], states[i+1])
		wait := expectChanges(r.obs, cnps, changes)
		start := time.Now()
		windows = append(windows, start)
		if err := parallel(ctx, len(changes), out.RawConcurrency, func(ctx context.Context, j int) error {
			return raw.write(ctx, &changes[j])
		}); err != nil {
			return fmt.Errorf("raw %q: %w", out.Edits[i].Edit, err)
		}
		last, err := wait(ctx, b.opts.timeout)
		if err != nil {
			return fmt.Errorf("raw %q: %w", out.Edits[i].Edit, err)
		}
		if len(changes) > 0 {
			out.Edits[i].RawSeconds = seconds(last.Sub(start))
		}
	}
	// The audit log is read once the last write had time to reach it.
	if err := pause(ctx, 2*time.Second); err != nil {
		return err
	}
	windows = append(windows, time.Now())
	for i := range out.Edits {
		e := &out.Edits[i]
		if e.RawWrites, err = r.p.audit.writes(user, windows[i], windows[i+1]); err != nil {
			return err
		}
		if e.RawSeconds > 0 {
			e.Ratio = round3(e.ManagerSeconds / e.RawSeconds)
		}
		b.logf("  raw %s: %.3fs, %d writes; manager/raw %.2f", e.Edit, e.RawSeconds, e.RawWrites.StateTotal, e.Ratio)
	}
	return nil
}

// rawConcurrency is the raw client's writes in flight: the largest of
// -raw-concurrency (64 by default, as the manager's --apply-concurrency).
func (b *bench) rawConcurrency() int {
	if len(b.opts.rawConcurrency) > 0 {
		return slices.Max(b.opts.rawConcurrency)
	}
	return b.opts.concurrency
}
