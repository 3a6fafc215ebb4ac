package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// enforcementModes are the modes compared, the baseline (NetworkPolicy)
// first.
var enforcementModes = []segv1.Enforcement{segv1.EnforcementNetworkPolicy, segv1.EnforcementClusterNetworkPolicy, segv1.EnforcementBoth}

// cnpGVR is the ClusterNetworkPolicy resource the pinned CRD serves.
var cnpGVR = schema.GroupVersionResource{Group: cnpapi.Group, Version: cnpapi.Versions[0], Resource: "clusternetworkpolicies"}

// EnforcementComparison is the cost of each enforcement mode at one scale,
// every mode on a fresh plane with the ClusterNetworkPolicy CRD installed,
// the sample profile with only spec.enforcement changed.
type EnforcementComparison struct {
	// Namespaces is N, the governed namespaces.
	Namespaces int `json:"namespaces"`
	// NamespaceIsolatedTiers are the profile's tiers with isolation
	// Namespace, and NamespaceIsolated their governed namespaces: each gets
	// a ClusterNetworkPolicy of its own.
	NamespaceIsolatedTiers []string `json:"namespaceIsolatedTiers"`
	NamespaceIsolated      int      `json:"namespaceIsolated"`
	// Runs is the number of cold starts per mode.
	Runs int `json:"runs"`
	// Modes are the modes measured, NetworkPolicy first.
	Modes []EnforcementMode `json:"modes"`
}

// EnforcementMode is one mode's runs, each on a fresh plane; the runs of
// the modes alternate, so a change in the machine's load touches each.
type EnforcementMode struct {
	// Enforcement is the profile's spec.enforcement.
	Enforcement segv1.Enforcement `json:"enforcement"`
	// Runs are the cold starts.
	Runs []EnforcementRun `json:"runs"`
	// ReadySeconds, FromProfileSeconds and PeakRSSMiB are spreads over the
	// runs.
	ReadySeconds       Spread `json:"readySeconds"`
	FromProfileSeconds Spread `json:"fromProfileSeconds"`
	PeakRSSMiB         Spread `json:"peakRssMiB"`
}

// EnforcementRun is one cold start of a mode.
type EnforcementRun struct {
	// ReadySeconds is from the manager's process start until the watch
	// shows Ready=True (reason Enforced: every write of the pass
	// succeeded); FromProfileSeconds counts from the profile's creation.
	ReadySeconds       float64 `json:"readySeconds"`
	FromProfileSeconds float64 `json:"fromProfileSeconds"`
	// NetworkPolicies and ClusterNetworkPolicies are the objects the API
	// lists once the manager settled; Planned* what the renderer plans.
	NetworkPolicies               int `json:"networkPolicies"`
	ClusterNetworkPolicies        int `json:"clusterNetworkPolicies"`
	PlannedNetworkPolicies        int `json:"plannedNetworkPolicies"`
	PlannedClusterNetworkPolicies int `json:"plannedClusterNetworkPolicies"`
	// StoredKiB is the JSON size of those objects as the API returns them,
	// managedFields left out: what etcd and every watcher hold.
	StoredKiB float64 `json:"storedKiB"`
	// Writes are the manager's writes from its start until it settled.
	Writes Writes `json:"writes"`
	// Memory is the manager's memory once settled.
	Memory Memory `json:"memory"`
}

// compareEnforcement runs cold starts of each enforcement mode at n
// governed namespaces, the modes in turn.
func (b *bench) compareEnforcement(ctx context.Context, n int) (*EnforcementComparison, error) {
	l := newLayout(n, b.opts.unrelated)
	out := &EnforcementComparison{Namespaces: n, Runs: b.opts.cnpRuns}
	for _, t := range b.profile.Spec.Tiers {
		if t.Isolation == segv1.IsolationNamespace {
			out.NamespaceIsolatedTiers = append(out.NamespaceIsolatedTiers, string(t.Name))
		}
	}
	if len(out.NamespaceIsolatedTiers) == 0 {
		return nil, errors.New("the sample profile has no tier with isolation Namespace: no per-namespace ClusterNetworkPolicy would be counted")
	}
	for _, mode := range enforcementModes {
		out.Modes = append(out.Modes, EnforcementMode{Enforcement: mode})
	}
	runs := b.opts.cnpRuns
	for i := range runs {
		for j := range out.Modes {
			m := &out.Modes[j]
			b.logf("N=%d: cold start with enforcement %s, run %d of %d", n, m.Enforcement, i+1, runs)
			r, isolated, err := b.runEnforcement(ctx, l, m.Enforcement, i)
			if err != nil {
				return nil, fmt.Errorf("enforcement %s run %d: %w", m.Enforcement, i+1, err)
			}
			out.NamespaceIsolated = isolated
			m.Runs = append(m.Runs, r)
		}
	}
	for j := range out.Modes {
		m := &out.Modes[j]
		var ready, fromProfile, rss []float64
		for _, r := range m.Runs {
			ready, fromProfile, rss = append(ready, r.ReadySeconds), append(fromProfile, r.FromProfileSeconds), append(rss, r.Memory.PeakRSSMiB)
		}
		m.ReadySeconds, m.FromProfileSeconds, m.PeakRSSMiB = spreadOf(ready), spreadOf(fromProfile), spreadOf(rss)
	}
	return out, nil
}

// runEnforcement measures one mode on a fresh plane; it also returns how
// many governed namespaces are in a Namespace-isolated tier.
func (b *bench) runEnforcement(ctx context.Context, l layout, mode segv1.Enforcement, run int) (EnforcementRun, int, error) {
	dir := filepath.Join(b.workDir, fmt.Sprintf("enforcement-%d-%s-%d", len(l.Governed), strings.ToLower(string(mode)), run))
	p, err := startPlane(ctx, dir, b.configDir)
	if err != nil {
		return EnforcementRun{}, 0, err
	}
	r := &managedRun{b: b, l: l, p: p, user: harness.ManagerUser}
	out, isolated, err := r.enforcementColdStart(ctx, mode)
	if err = r.end(err); err != nil {
		return out, 0, err
	}
	return out, isolated, nil
}

// enforcementColdStart installs the ClusterNetworkPolicy CRD and the
// layout, starts the manager, creates the profile with mode and measures
// until Ready=True and settled.
func (r *managedRun) enforcementColdStart(ctx context.Context, mode segv1.Enforcement) (EnforcementRun, int, error) {
	var out EnforcementRun
	r.b.noteVersion(r.p)
	// The watchers stop with this run, before the plane does.
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := harness.InstallClusterNetworkPolicyCRD(ctx, r.p.kubectl); err != nil {
		return out, 0, err
	}
	if err := watchClusterNetworkPolicies(octx, r.p.adminCfg); err != nil {
		return out, 0, err
	}
	if err := r.l.create(ctx, r.p.admin); err != nil {
		return out, 0, err
	}
	err := r.connect(ctx, octx)
	if err != nil {
		return out, 0, err
	}

	if r.m, err = r.b.startManager(ctx, r.p, r.kubeconfig); err != nil {
		return out, 0, err
	}
	created := time.Now()
	want := r.b.profile.DeepCopy()
	want.Spec.Enforcement = mode
	profile, err := createProfile(ctx, r.p.crd, want)
	if err != nil {
		return out, 0, err
	}
	plan, err := planFor(profile, r.obsNamespaces())
	if err != nil {
		return out, 0, err
	}
	if len(plan.Governed) != len(r.l.Governed) {
		return out, 0, fmt.Errorf("the profile governs %d namespaces, the layout %d", len(plan.Governed), len(r.l.Governed))
	}
	ready, err := r.obs.awaitReady(ctx, profile.Name, len(plan.Governed), r.b.opts.timeout)
	if err != nil {
		return out, 0, err
	}
	if _, err := r.m.settle(ctx, 0, settleQuiet, r.b.opts.timeout); err != nil {
		return out, 0, err
	}
	settled := time.Now()
	out.ReadySeconds, out.FromProfileSeconds = seconds(ready.Sub(r.m.Started)), seconds(ready.Sub(created))
	if out.Writes, err = r.p.audit.writes(r.user, r.m.Started, settled); err != nil {
		return out, 0, err
	}
	if out.Memory, err = r.m.memory(ctx); err != nil {
		return out, 0, err
	}
	if err := r.countObjects(ctx, &out); err != nil {
		return out, 0, err
	}
	isolated, err := planned(profile, plan, &out)
	if err != nil {
		return out, 0, err
	}
	r.b.logf("  Ready after %.3fs (%.3fs from the profile's creation); %d NetworkPolicies, %d ClusterNetworkPolicies (planned %d, %d); %d state writes; peak RSS %.1f MiB",
		out.ReadySeconds, out.FromProfileSeconds, out.NetworkPolicies, out.ClusterNetworkPolicies,
		out.PlannedNetworkPolicies, out.PlannedClusterNetworkPolicies, out.Writes.StateTotal, out.Memory.PeakRSSMiB)
	return out, isolated, nil
}

// watchClusterNetworkPolicies watches ClusterNetworkPolicies until ctx ends,
// as the CNI that enforces them would, and returns once the watch has
// synced. The API server builds a custom resource's storage and watch cache
// on the first request for it and refuses watches while that cache fills
// ("storage is (re)initializing", 429, retry after 1 s): without a watcher
// already there, the manager's first watch would stall a second, a cost of
// this fresh plane and not of ClusterNetworkPolicy mode.
func watchClusterNetworkPolicies(ctx context.Context, cfg *rest.Config) error {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(dc, 0)
	inf := f.ForResource(cnpGVR).Informer()
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errors.New("watch ClusterNetworkPolicies: cache did not sync")
	}
	return nil
}

// countObjects lists the NetworkPolicies and ClusterNetworkPolicies present
// and sums their size.
func (r *managedRun) countObjects(ctx context.Context, out *EnforcementRun) error {
	var size int
	add := func(obj metav1.Object) error {
		obj.SetManagedFields(nil)
		data, err := json.Marshal(obj)
		size += len(data)
		return err
	}
	nps, err := r.p.admin.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list NetworkPolicies: %w", err)
	}
	for i := range nps.Items {
		if err := add(&nps.Items[i]); err != nil {
			return err
		}
	}
	dc, err := dynamic.NewForConfig(r.p.adminCfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	cnps, err := dc.Resource(cnpGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list ClusterNetworkPolicies: %w", err)
	}
	for i := range cnps.Items {
		if err := add(&cnps.Items[i]); err != nil {
			return err
		}
	}
	out.NetworkPolicies, out.ClusterNetworkPolicies = len(nps.Items), len(cnps.Items)
	out.StoredKiB = round(float64(size) / 1024)
	return nil
}

// planned sets the objects the renderer plans for mode and returns how many
// governed namespaces are in a Namespace-isolated tier.
func planned(profile *segv1.SegmentationProfile, plan *render.Plan, out *EnforcementRun) (int, error) {
	isolatedTiers := map[string]bool{}
	for _, t := range profile.Spec.Tiers {
		isolatedTiers[string(t.Name)] = t.Isolation == segv1.IsolationNamespace
	}
	isolated := 0
	for _, g := range plan.Governed {
		if isolatedTiers[g.Tier] {
			isolated++
		}
	}
	if render.UsesNetworkPolicies(profile) {
		out.PlannedNetworkPolicies = len(plan.Governed)
	}
	if render.UsesClusterNetworkPolicies(profile) {
		cnps, err := render.ClusterNetworkPolicies(profile, plan, render.DefaultCNPPriority)
		if err != nil {
			return 0, err
		}
		out.PlannedClusterNetworkPolicies = len(cnps)
	}
	return isolated, nil
}
