package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// A delta pass repairs drift without walking every namespace. A full pass
// plans the profile over all namespaces (O(N)); the drift users and
// tenants cause most (a managed policy edited or deleted, a label Tierguard
// owns changed) touches one namespace and cannot change the plan. The
// events record, per profile, which namespaces they touched (dirty), and a
// pass whose every cause is such a namespace, over a plan still valid
// (basis), compares and repairs only those namespaces.
//
// Fail safe: anything else marks the profile for a full pass. That is
// every profile, foreign policy, report, ClusterNetworkPolicy and canary
// event, a namespace created or deleted, a label changed that Tierguard
// does not own for that namespace (it may move the namespace, or open a
// hole through another policy's selector: IsolationVerified must see it),
// a pass that failed or is repeated, and a namespace whose plan, computed
// from its new labels alone, is not the basis's.

// maxDeltaNamespaces bounds a delta pass; more dirty namespaces (an
// informer resync redelivers every object) make a full pass.
const maxDeltaNamespaces = 64

// dirtyTracker records what the events since a profile's last pass touched.
type dirtyTracker struct {
	mu sync.Mutex
	m  map[string]*dirtySet
}

type dirtySet struct {
	full  bool
	names map[string]struct{}
}

func (d *dirtyTracker) set(profile string) *dirtySet {
	if d.m == nil {
		d.m = map[string]*dirtySet{}
	}
	s := d.m[profile]
	if s == nil {
		s = &dirtySet{names: map[string]struct{}{}}
		d.m[profile] = s
	}
	return s
}

// namespace records a change to one namespace a delta pass can repair.
func (d *dirtyTracker) namespace(profile, ns string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.set(profile); !s.full {
		s.names[ns] = struct{}{}
		if len(s.names) > maxDeltaNamespaces {
			s.full, s.names = true, nil
		}
	}
}

// full records a change only a full pass handles.
func (d *dirtyTracker) full(profile string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.set(profile)
	s.full, s.names = true, nil
}

// take returns and clears the profile's record: the namespaces to repair,
// or delta false when the pass must be full (also when no event recorded
// anything: the cause is then unknown).
func (d *dirtyTracker) take(profile string) (names []string, delta bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.m[profile]
	delete(d.m, profile)
	if s == nil || s.full || len(s.names) == 0 {
		return nil, false
	}
	return slices.Sorted(maps.Keys(s.names)), true
}

// basis is what a full pass leaves for delta passes: its plan and the
// parts of its outcome no drift repair changes.
type basis struct {
	profile                profileKey
	others                 string
	plan                   *render.Plan
	cnp                    clusterPolicies
	ownedByProfile         int
	managedClusterPolicies int32
	isolation              isolationResult
}

// profileKey is what of a profile, besides its status, a plan depends on
// or a pass acts upon.
type profileKey struct {
	uid        types.UID
	generation int64
	deleting   bool
	finalizers string
}

func keyOf(p *segv1.SegmentationProfile) profileKey {
	return profileKey{uid: p.UID, generation: p.Generation, deleting: !p.DeletionTimestamp.IsZero(),
		finalizers: strings.Join(p.Finalizers, ",")}
}

// othersKey identifies the other profiles as far as a plan depends on
// them (their specs, ages and deletion).
// The cache lists in no particular order: the key is built in name order.
func othersKey(self string, profiles []segv1.SegmentationProfile) string {
	keys := make([]string, 0, len(profiles))
	for i := range profiles {
		p := &profiles[i]
		if p.Name == self {
			continue
		}
		keys = append(keys, fmt.Sprintf("%s/%s/%d/%d/%t", p.Name, p.UID, p.Generation, p.CreationTimestamp.Unix(), !p.DeletionTimestamp.IsZero()))
	}
	slices.Sort(keys)
	return strings.Join(keys, ";")
}

// bases keeps each profile's basis.
type bases struct {
	mu sync.Mutex
	m  map[string]*basis
}

func (b *bases) get(profile string) *basis {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[profile]
}

func (b *bases) put(profile string, v *basis) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*basis{}
	}
	if v == nil {
		delete(b.m, profile)
		return
	}
	b.m[profile] = v
}

// ownedKeys returns the label keys the basis plans on a governed
// namespace; nil when it governs none by that name.
func (b *bases) ownedKeys(profile, ns string) map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v := b.m[profile]; v != nil {
		if g := v.plan.Lookup(ns); g != nil {
			return g.Labels
		}
	}
	return nil
}

// deltaEligible reports whether the profile's passes may be delta passes:
// an enforcing profile whose writes are NetworkPolicies and labels only,
// without OpenReports (built over every governed namespace).
func (r *ProfileReconciler) deltaEligible(p *segv1.SegmentationProfile) bool {
	return !r.Reports && render.Mode(p) == segv1.ModeEnforce && !render.UsesClusterNetworkPolicies(p)
}

// keepBasis stores what a full pass leaves for delta passes, when its
// outcome can serve as one: isolation verified, nothing pending.
func (r *ProfileReconciler) keepBasis(profile *segv1.SegmentationProfile, others []segv1.SegmentationProfile, state *observation, o outcome) {
	if !r.deltaEligible(profile) || o.plan.Blocked || !o.isolation.known || o.isolation.err != nil || !settled(o) {
		r.bases.put(profile.Name, nil)
		return
	}
	r.bases.put(profile.Name, &basis{profile: keyOf(profile), others: othersKey(profile.Name, others), plan: o.plan,
		cnp: state.cnp, ownedByProfile: state.ownedByProfile, managedClusterPolicies: o.managedClusterPolicies,
		isolation: o.isolation})
}

// settled reports whether every write of the pass is done and no tier was
// refused: the cluster holds the plan.
func settled(o outcome) bool {
	return o.writes.count(writeFailed)+o.writes.count(writeSkipped)+o.writes.count(writeStale) == 0 && len(o.refused) == 0
}

// enforceDelta repairs the dirty namespaces against the basis. ok false:
// a full pass is needed (nothing was written).
func (r *ProfileReconciler) enforceDelta(ctx context.Context, profile *segv1.SegmentationProfile, mem *memory.Profile,
	names []string) (o outcome, ok bool, err error) {
	b := r.bases.get(profile.Name)
	if b == nil || !r.deltaEligible(profile) || b.profile != keyOf(profile) {
		return notDelta(ctx, "no basis, or the profile changed since")
	}
	profiles := &segv1.SegmentationProfileList{}
	if err := r.Client.List(ctx, profiles); err != nil {
		return notDelta(ctx, "profiles unreadable")
	}
	if othersKey(profile.Name, profiles.Items) != b.others {
		return notDelta(ctx, "another profile changed")
	}
	state := observation{
		input: render.Input{Profile: profile, OperatorNamespace: r.OperatorNamespace, OtherProfiles: profiles.Items},
		observed: diff.Observed{NamespaceLabels: map[string]map[string]string{}, NamespaceVersions: map[string]string{},
			Policies: map[string]*networkingv1.NetworkPolicy{}},
		uids: map[string]types.UID{}, cnp: b.cnp, ownedByProfile: b.ownedByProfile,
	}
	state.versions = state.observed.NamespaceVersions
	dirty := &render.Plan{Profile: b.plan.Profile, ProfileUID: b.plan.ProfileUID, TierLabelKey: b.plan.TierLabelKey}
	var joined []render.GovernedNamespace
	for _, name := range names {
		ns := namespaceMetadata()
		if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
			return notDelta(ctx, "namespace unreadable") // gone, or unreadable: the full pass says which
		}
		var g *render.GovernedNamespace
		if b.plan.Lookup(name) != nil {
			var same bool
			if g, same, err = samePlan(state.input, b.plan, ns); err != nil || !same {
				return notDelta(ctx, "the namespace's plan changed")
			}
		} else {
			if g, err = joins(state.input, b, ns); err != nil || g == nil {
				return notDelta(ctx, "the namespace does not simply join")
			}
			joined = append(joined, *g)
		}
		state.input.Namespaces = append(state.input.Namespaces, render.Namespace{Name: ns.Name, Labels: ns.Labels})
		state.observed.NamespaceLabels[name] = ns.Labels
		state.observed.NamespaceVersions[name] = ns.ResourceVersion
		state.uids[name] = ns.UID
		pol := &networkingv1.NetworkPolicy{}
		switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: name, Name: render.PolicyName}, pol, client.UnsafeDisableDeepCopy); {
		case err == nil && render.IsManagedPolicy(pol):
			state.observed.Policies[name] = pol
		case err != nil && !apierrors.IsNotFound(err):
			return notDelta(ctx, "policy unreadable")
		}
		dirty.Governed = append(dirty.Governed, *g)
	}
	plan := b.plan
	if len(joined) > 0 {
		// A namespace that joins may hold policies of its own: the foreign
		// store starts keeping them, and any there is makes a full pass
		// (the leak analysis must see it).
		plan = b.plan.WithGoverned(joined...)
		governed := make([]string, len(plan.Governed))
		for i := range plan.Governed {
			governed[i] = plan.Governed[i].Name
		}
		foreign, err := r.foreign.Govern(ctx, profile.Name, governed)
		if err != nil || len(foreign) > 0 {
			return notDelta(ctx, "a joining namespace holds policies")
		}
		slices.SortFunc(dirty.Governed, func(a, b render.GovernedNamespace) int { return strings.Compare(a.Name, b.Name) })
	}
	mem.SeenPolicies(profile.Name, state.observed.Policies)
	state.observed.Seen = mem.Seen
	state.observed.PolicyMatches = mem.PolicyMatches
	state.observed.LabelsEnforced = mem.LabelsEnforced

	o = outcome{generation: profile.Generation, plan: plan, now: metav1.NewTime(time.Now()),
		ownedByProfile: b.ownedByProfile, managedClusterPolicies: b.managedClusterPolicies}
	pass := passActions{namespaces: diff.Compute(dirty, state.observed)}
	if pass.namespaces, o.refused, err = r.admitPlan(ctx, mem, plan, pass.namespaces); err != nil {
		return o, true, failure(segv1.ReasonApplyFailed, err)
	}
	o.actions, o.writes = r.writePhases(ctx, mem, &state, plan, pass, true, o.now)
	o.managedPolicies = managedAfter(plan, o)
	o.membership = membershipChanges(profile, plan, state.observed, o.actions, o.writes, nil, o.now)
	r.attributeMembership(ctx, profile, o.membership)
	rememberLabels(mem, dirty, o.actions, o.writes)
	if o.writes.count(writeFailed) == 0 {
		// Only labels Tierguard plans and its own policies changed: the
		// holes other policies punch are the basis's.
		o.isolation = b.isolation
	}
	o.canary = r.canaryResult(profile)
	r.report(profile, mem, o)
	if len(joined) > 0 {
		// Later delta passes build on the plan with the namespaces that
		// joined; a pass that did not finish leaves none (a full pass
		// follows).
		next := *b
		next.plan = plan
		if settled(o) {
			r.bases.put(profile.Name, &next)
		} else {
			r.bases.put(profile.Name, nil)
		}
	}
	return o, true, nil
}

// notDelta logs why a pass is full after all (at debug level) and returns
// enforceDelta's answer for it: not handled, nothing written.
func notDelta(ctx context.Context, reason string) (outcome, bool, error) {
	logf.FromContext(ctx).V(1).Info("full pass instead of a delta pass", "reason", reason)
	return outcome{}, false, nil
}

// samePlan plans one namespace alone, from its current labels, and reports
// whether that is the basis's plan of it: governed in the same tier with
// the same hash, in no conflict. A namespace's plan depends on its own name
// and labels and on the profiles only, so planning it alone is exact.
func samePlan(in render.Input, basis *render.Plan, ns *metav1.PartialObjectMetadata) (*render.GovernedNamespace, bool, error) {
	g := basis.Lookup(ns.Name)
	if g == nil || !ns.DeletionTimestamp.IsZero() || hasConflict(basis, ns.Name) {
		return nil, false, nil
	}
	in.Namespaces = []render.Namespace{{Name: ns.Name, Labels: ns.Labels}}
	alone, err := render.Compute(in)
	if err != nil {
		return nil, false, err
	}
	mine := alone.Lookup(ns.Name)
	same := mine != nil && mine.Tier == g.Tier && mine.Hash == g.Hash && len(alone.Conflicts) == 0
	return g, same, nil
}

// joins plans a namespace the basis does not govern alone, from its
// labels, and returns its plan when it simply joins a tier: governed, in
// no conflict, and nothing in the cluster can punch a hole in the
// isolation (the basis found no foreign policy and no other
// ClusterNetworkPolicy), so its labels cannot open one. Nil: a full pass
// is needed.
func joins(in render.Input, b *basis, ns *metav1.PartialObjectMetadata) (*render.GovernedNamespace, error) {
	if !b.isolation.unopposed || !ns.DeletionTimestamp.IsZero() || b.plan.IsHeld(ns.Name) || hasConflict(b.plan, ns.Name) {
		return nil, nil
	}
	in.Namespaces = []render.Namespace{{Name: ns.Name, Labels: ns.Labels}}
	alone, err := render.Compute(in)
	if err != nil {
		return nil, err
	}
	g := alone.Lookup(ns.Name)
	if g == nil || len(alone.Governed) != 1 || len(alone.Conflicts)+len(alone.Held)+len(alone.Skipped)+len(alone.Retained)+len(alone.Shared) > 0 {
		return nil, nil
	}
	return g, nil
}

// hasConflict reports whether the plan records a conflict of the namespace.
func hasConflict(plan *render.Plan, ns string) bool {
	_, found := slices.BinarySearchFunc(plan.Conflicts, ns, func(c render.Conflict, name string) int {
		return strings.Compare(c.Namespace, name)
	})
	return found
}

// ownedOnly reports whether every label that differs between old and new
// is one the profile plans on the namespace (its values are then restored
// by the repair, and nothing else can read them differently).
func ownedOnly(old, new map[string]string, owned map[string]string) bool {
	if owned == nil {
		return false
	}
	for k, v := range old {
		if nv, ok := new[k]; (!ok || nv != v) && !has(owned, k) {
			return false
		}
	}
	for k := range new {
		if _, ok := old[k]; !ok && !has(owned, k) {
			return false
		}
	}
	return true
}

func has(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
