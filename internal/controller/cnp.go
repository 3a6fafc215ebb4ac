package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// +kubebuilder:rbac:groups=policy.networking.k8s.io,resources=clusternetworkpolicies,verbs=get;list;watch;create;patch;delete

// clusterPolicies is what a pass sees of ClusterNetworkPolicies.
type clusterPolicies struct {
	// served is set when the API server serves a version Tierguard writes,
	// gv.
	served bool
	gv     schema.GroupVersion
	// own are the profile's managed policies, by name (cached objects, or
	// conversions of them: do not mutate).
	own map[string]*npav1beta1.ClusterNetworkPolicy
	// others are every other ClusterNetworkPolicy: another profile's or
	// another administrator's.
	others []npav1beta1.ClusterNetworkPolicy
	// planned are the profile's planned policies (none when its
	// enforcement does not use them, or they are not served).
	planned []npav1beta1.ClusterNetworkPolicy
}

// wantedButMissing reports whether the profile needs ClusterNetworkPolicies
// the API server does not serve.
func (c clusterPolicies) wantedButMissing(p *segv1.SegmentationProfile) bool {
	return render.UsesClusterNetworkPolicies(p) && !c.served
}

// networkPolicies reports whether the pass writes NetworkPolicies: when the
// profile's enforcement uses them, and, failing safe, when it needs
// ClusterNetworkPolicies that cannot be written.
func (c clusterPolicies) networkPolicies(p *segv1.SegmentationProfile) bool {
	return render.UsesNetworkPolicies(p) || !c.served
}

// observeClusterPolicies finds the served version, starts watching it the
// first time, and reads every ClusterNetworkPolicy from the cache.
func (r *ProfileReconciler) observeClusterPolicies(ctx context.Context, profile *segv1.SegmentationProfile) (clusterPolicies, error) {
	var c clusterPolicies
	gv, err := r.cnpVersion()
	switch {
	case errors.Is(err, cnpapi.ErrNotServed):
		return c, nil
	case err != nil:
		return c, err
	}
	detected := gv
	if w := r.watchedVersion(); w != "" {
		// Once watched, a version is kept while it is served (the API
		// server converts between the versions of one CRD): an upgrade of
		// the CRD to a newer version needs no restart.
		gv.Version = w
	}
	if err := r.watchClusterPolicies(gv); err != nil {
		return c, err
	}
	list := cnpapi.NewList(gv)
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		if !isNotServed(err) {
			return c, fmt.Errorf("list cluster network policies: %w", err)
		}
		r.ClusterNetworkPolicies.Forget() // removed since detected
		if gv != detected {
			return c, fmt.Errorf("ClusterNetworkPolicy %s is no longer served, %s is: restart the manager to watch it", gv.Version, detected.Version)
		}
		return c, nil
	}
	items, err := cnpapi.Items(list)
	if err != nil {
		return c, err
	}
	c.served, c.gv = true, gv
	c.own = map[string]*npav1beta1.ClusterNetworkPolicy{}
	for i := range items {
		p := &items[i]
		if isManagedClusterPolicy(p, profile.Name) {
			c.own[p.Name] = p
		} else {
			c.others = append(c.others, *p)
		}
	}
	return c, nil
}

// isManagedClusterPolicy reports whether a ClusterNetworkPolicy is the
// profile's: Tierguard's labels and name.
func isManagedClusterPolicy(p *npav1beta1.ClusterNetworkPolicy, profile string) bool {
	return p.Labels[render.ManagedByLabel] == render.ManagedByValue && p.Labels[render.ProfileLabel] == profile &&
		strings.HasPrefix(p.Name, render.CNPNamePrefix)
}

func isNotServed(err error) bool {
	return apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
}

// cnpVersion returns the ClusterNetworkPolicy version to write.
func (r *ProfileReconciler) cnpVersion() (schema.GroupVersion, error) {
	if r.ClusterNetworkPolicies == nil {
		return schema.GroupVersion{}, cnpapi.ErrNotServed
	}
	return r.ClusterNetworkPolicies.Version()
}

// watchClusterPolicies starts the watch of ClusterNetworkPolicies once
// their version is known: the CRD may be installed after the manager
// started. An event on one of a profile's policies reconciles the
// profile; on any other (another administrator's, which can open a
// boundary), every profile.
func (r *ProfileReconciler) watchClusterPolicies(gv schema.GroupVersion) error {
	r.cnpWatchMu.Lock()
	defer r.cnpWatchMu.Unlock()
	if r.ctl == nil || r.cnpWatching == gv.Version {
		return nil
	}
	src := source.Kind(r.cache, cnpapi.NewObject(gv), handler.EnqueueRequestsFromMapFunc(r.full(r.clusterPolicyOwner)),
		r.echoes.Predicate(segv1.KindClusterNetworkPolicy))
	if err := r.ctl.Watch(src); err != nil {
		return fmt.Errorf("watch cluster network policies: %w", err)
	}
	r.cnpWatching = gv.Version
	return nil
}

// watchedVersion is the version watched, or "" before the first watch.
func (r *ProfileReconciler) watchedVersion() string {
	r.cnpWatchMu.Lock()
	defer r.cnpWatchMu.Unlock()
	return r.cnpWatching
}

func (r *ProfileReconciler) clusterPolicyOwner(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetLabels()[render.ManagedByLabel] == render.ManagedByValue && strings.HasPrefix(obj.GetName(), render.CNPNamePrefix) {
		if p := obj.GetLabels()[render.ProfileLabel]; p != "" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: p}}}
		}
	}
	return r.allProfiles(ctx, obj)
}

// planClusterPolicies renders the profile's ClusterNetworkPolicies when its
// enforcement uses them and they are served, and, when it uses them alone,
// takes the NetworkPolicies out of the plan: their deletion is planned.
func planClusterPolicies(profile *segv1.SegmentationProfile, plan *render.Plan, c *clusterPolicies) error {
	if !c.served || !render.UsesClusterNetworkPolicies(profile) {
		return nil
	}
	planned, err := render.ClusterNetworkPolicies(profile, plan, render.CNPPriority(profile))
	if err != nil {
		return fmt.Errorf("plan cluster network policies of profile %s: %w", profile.Name, err)
	}
	c.planned = planned
	if !render.UsesNetworkPolicies(profile) {
		for i := range plan.Governed {
			plan.Governed[i].Policy = nil
		}
	}
	return nil
}

// keepHeld drops the deletions of the per-namespace policies of namespaces
// the plan holds as they are (retained after leaving, in conflict,
// terminating): such a namespace keeps its tier labels, so it stays a
// subject of its tier's boundary and keeps the policy that passes its own
// traffic.
func keepHeld(plan *render.Plan, c clusterPolicies, deletes []diff.Action) []diff.Action {
	return slices.DeleteFunc(deletes, func(a diff.Action) bool {
		p := c.own[a.Name]
		if p == nil || p.Spec.Subject.Namespaces == nil {
			return false
		}
		ns := p.Spec.Subject.Namespaces.MatchLabels[render.MetadataNameLabel]
		return ns != "" && plan.IsHeld(ns)
	})
}

// passActions are a pass's writes in the three phases that keep a boundary
// at every moment: ClusterNetworkPolicies applied first; then the
// namespaces' labels and NetworkPolicies (their removal, when
// ClusterNetworkPolicies alone enforce, only once every one of those
// applies succeeded); then the ClusterNetworkPolicies no longer planned
// (the switch to NetworkPolicies, a tier removed, a namespace left), only
// once every earlier write succeeded.
type passActions struct {
	applies, namespaces, deletes []diff.Action
}

func (p passActions) all() []diff.Action {
	return slices.Concat(p.applies, p.namespaces, p.deletes)
}

// writePhases makes the writes phase by phase (see passActions) and
// returns them with their states, in one list.
func (r *ProfileReconciler) writePhases(ctx context.Context, mem *memory.Profile, state *observation, plan *render.Plan,
	p passActions, nps bool, now metav1.Time) ([]diff.Action, writeResult) {
	all := p.all()
	res := writeResult{states: make([]writeState, len(all)), errs: map[int]error{}}
	clean := true
	run := func(offset int, actions []diff.Action, allow func(diff.Action) bool) {
		var idx []int
		for i, a := range actions {
			if allow == nil || allow(a) {
				idx = append(idx, i)
			}
		}
		sub := make([]diff.Action, len(idx))
		for k, i := range idx {
			sub[k] = actions[i]
		}
		w := r.write(ctx, mem, state, sub, now)
		for k, i := range idx {
			res.states[offset+i] = w.states[k]
			if err := w.errs[k]; err != nil {
				res.errs[offset+i] = err
			}
		}
		res.repairs = append(res.repairs, w.repairs...)
		clean = clean && len(idx) == len(actions) && w.count(writeChanged)+w.count(writeUnneeded) == len(sub)
	}
	run(0, p.applies, nil)
	var hold func(diff.Action) bool
	if !clean && !nps {
		// The boundaries are not all in place: no namespace joins a tier
		// and no NetworkPolicy goes.
		hold = func(a diff.Action) bool {
			return plan.Lookup(a.Namespace) == nil || (a.Type != diff.ApplyLabels && a.Type != diff.DeletePolicy)
		}
	}
	run(len(p.applies), p.namespaces, hold)
	if clean {
		run(len(p.applies)+len(p.namespaces), p.deletes, nil)
	}
	return all, res
}

// rememberClusterPolicies keeps the names of the profile's policies known
// to exist after the pass: planned ones observed, written or seen before
// (a missing one is then drift).
func rememberClusterPolicies(mem *memory.Profile, c clusterPolicies, actions []diff.Action, w writeResult) {
	written := map[string]bool{}
	for i, a := range actions {
		if a.Type == diff.ApplyClusterPolicy && w.done(i) {
			written[a.Name] = true
		}
	}
	var names []string
	for _, p := range c.planned {
		if c.own[p.Name] != nil || written[p.Name] || mem.ClusterPolicySeen(p.Name) {
			names = append(names, p.Name)
		}
	}
	mem.SeenClusterPolicies(names)
}

// managedClusterPolicies counts the profile's ClusterNetworkPolicies after
// the pass.
func managedClusterPolicies(c clusterPolicies, actions []diff.Action, w writeResult, audit bool) int32 {
	if audit {
		return int32(len(c.own))
	}
	n := int32(len(c.own))
	for i, a := range actions {
		switch {
		case a.Type == diff.ApplyClusterPolicy && w.states[i] == writeChanged && c.own[a.Name] == nil:
			n++
		case a.Type == diff.DeleteClusterPolicy && w.done(i):
			n--
		}
	}
	return n
}
