package memory

import (
	"slices"

	networkingv1 "k8s.io/api/networking/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/render"
)

// Profile is one profile's memory. Not safe for concurrent use (see
// Memory.Profile).
type Profile struct {
	// seen are the namespaces where this process has seen or written the
	// profile's policy. A policy missing from one of them was deleted
	// (drift); one missing elsewhere may never have been created, as when
	// a previous manager was killed between a namespace's labels and its
	// policy. A fresh process repairs a deletion made while no manager ran
	// as a first apply, not as drift.
	seen map[string]struct{}
	// verified are, by namespace, the policy versions found to match their
	// plan. A fresh process compares every policy once.
	verified map[string]verifiedKey
	// accepted are the tier plans (hash and owner) whose policy the API
	// server accepted in a dry run. A fresh process dry-runs each once.
	accepted map[string]struct{}
	// retained are the namespaces known as retained after leaving; nil
	// until the first pass, which only learns them (they left under a
	// previous process, which recorded it).
	retained map[string]struct{}
	// labelled are, by namespace, the tier whose labels this process last
	// found in place or applied. Where no NetworkPolicy is planned
	// (ClusterNetworkPolicy enforcement), it tells drift from a first
	// apply or a plan change.
	labelled map[string]string
	// clusterPolicies are the names of the profile's ClusterNetworkPolicies
	// this process has seen or written: one missing was deleted (drift).
	clusterPolicies map[string]struct{}
	// status is the last status this process wrote, and statusOver the
	// profile's resourceVersion it was written over: while the cache still
	// shows that version, the status is what the profile holds.
	status     *segv1.SegmentationProfileStatus
	statusOver string
	// leaks is the last leak analysis and the digest of its inputs.
	leaks leakMemo
	// tiers are the tiers last reported in metrics.
	tiers []string
}

type leakMemo struct {
	key   string
	found []leaks.Leak
	set   bool
}

// Seen reports whether the profile's policy has existed in a namespace.
func (p *Profile) Seen(namespace string) bool {
	_, ok := p.seen[namespace]
	return ok
}

// MarkSeen records that the profile's policy exists in a namespace, or,
// with present false, that it was deleted.
func (p *Profile) MarkSeen(namespace string, present bool) {
	if !present {
		delete(p.seen, namespace)
		return
	}
	if p.seen == nil {
		p.seen = map[string]struct{}{}
	}
	p.seen[namespace] = struct{}{}
}

// LabelsEnforced reports whether the namespace's labels were last found in
// place, or applied, for the tier.
func (p *Profile) LabelsEnforced(namespace, tier string) bool {
	t, ok := p.labelled[namespace]
	return ok && t == tier
}

// MarkLabelled records that the namespace carries its tier's labels.
func (p *Profile) MarkLabelled(namespace, tier string) {
	if p.labelled == nil {
		p.labelled = map[string]string{}
	}
	p.labelled[namespace] = tier
}

// ClusterPolicySeen reports whether the profile's ClusterNetworkPolicy of
// this name has existed.
func (p *Profile) ClusterPolicySeen(name string) bool {
	_, ok := p.clusterPolicies[name]
	return ok
}

// SeenClusterPolicies replaces the names of the profile's
// ClusterNetworkPolicies known to exist: those observed and those planned
// that the pass wrote or found in place. Names neither observed nor
// planned are forgotten, so the set stays as large as the plan.
func (p *Profile) SeenClusterPolicies(names []string) {
	p.clusterPolicies = make(map[string]struct{}, len(names))
	for _, n := range names {
		p.clusterPolicies[n] = struct{}{}
	}
}

// WroteStatus records a status written over the profile's version over.
func (p *Profile) WroteStatus(over string, st segv1.SegmentationProfileStatus) {
	p.status, p.statusOver = st.DeepCopy(), over
}

// StatusOver returns the status last written over version rv, if any: the
// profile's status when the cache, still at rv, does not show that write
// yet. Comparing with it instead of the cached one spares a second write
// (and a second transition event) of the same status.
func (p *Profile) StatusOver(rv string) (*segv1.SegmentationProfileStatus, bool) {
	if p.status == nil || rv == "" || rv != p.statusOver {
		return nil, false
	}
	return p.status, true
}

// SeenPolicies marks the profile's policies among the cached managed ones.
func (p *Profile) SeenPolicies(profile string, policies map[string]*networkingv1.NetworkPolicy) {
	for ns, pol := range policies {
		if pol.Labels[render.ProfileLabel] == profile {
			p.MarkSeen(ns, true)
		}
	}
}

// verifiedKey is the policy's version (the cached object's string, not a
// copy) and a digest of the policy's UID and the plan (hash and owners).
type verifiedKey struct {
	resourceVersion string
	digest          uint64
}

// PolicyMatches is drift.PolicyMatches of an observed policy and a
// namespace's plan, answered from memory when this version of the policy
// already matched this plan: any change to the policy gives it a new
// resourceVersion, and any change to the plan a new hash or owner, so a
// remembered match stays true.
func (p *Profile) PolicyMatches(observed *networkingv1.NetworkPolicy, g *render.GovernedNamespace) bool {
	if observed == nil || observed.ResourceVersion == "" {
		return drift.PolicyMatches(observed, g.Policy)
	}
	d := fnvAdd(fnvAdd(fnvOffset, string(observed.UID)), g.Hash)
	for _, ref := range g.Policy.OwnerReferences {
		d = fnvAdd(d, string(ref.UID))
	}
	key := verifiedKey{resourceVersion: observed.ResourceVersion, digest: d}
	if p.verified[g.Name] == key {
		verifiedLookups.count(true)
		return true
	}
	verifiedLookups.count(false)
	if !drift.PolicyMatches(observed, g.Policy) {
		delete(p.verified, g.Name)
		return false
	}
	if p.verified == nil {
		p.verified = map[string]verifiedKey{}
	}
	p.verified[g.Name] = key
	return true
}

// FNV-1a, 64 bits, over strings each followed by a zero byte; inline so a
// pass allocates nothing for it.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h * fnvPrime // the zero byte that ends s (h ^ 0 == h)
}

// Prune drops what is remembered of namespaces the plan neither governs nor
// holds (left, deleted, or in conflict), so the memory stays as large as
// the plan, however many namespaces come and go. It walks the memory only
// when it holds more namespaces than the plan can account for.
func (p *Profile) Prune(plan *render.Plan) {
	keep := func(ns string) bool { return plan.Lookup(ns) != nil || plan.IsHeld(ns) }
	limit := len(plan.Governed) + len(plan.Held)
	if len(p.verified) > limit {
		for ns := range p.verified {
			if !keep(ns) {
				delete(p.verified, ns)
			}
		}
	}
	if len(p.seen) > limit {
		for ns := range p.seen {
			if !keep(ns) {
				delete(p.seen, ns)
			}
		}
	}
	if len(p.labelled) > limit {
		for ns := range p.labelled {
			if !keep(ns) {
				delete(p.labelled, ns)
			}
		}
	}
}

// Accepted reports whether the API server accepted a tier plan's policy.
func (p *Profile) Accepted(g *render.GovernedNamespace) bool {
	_, ok := p.accepted[acceptedKey(g)]
	acceptedLookups.count(ok)
	return ok
}

// Accept records that the API server accepted a tier plan's policy.
func (p *Profile) Accept(g *render.GovernedNamespace) {
	if p.accepted == nil {
		p.accepted = map[string]struct{}{}
	}
	p.accepted[acceptedKey(g)] = struct{}{}
}

func acceptedKey(g *render.GovernedNamespace) string {
	owner := ""
	if refs := g.Policy.OwnerReferences; len(refs) > 0 {
		owner = string(refs[0].UID)
	}
	return g.Hash + "\x00" + owner
}

// NewlyRetained returns the namespaces of retained not retained in the
// previous pass, and remembers retained as the profile's set. The first
// pass of a process returns none.
func (p *Profile) NewlyRetained(retained []string) []string {
	first := p.retained == nil
	next := make(map[string]struct{}, len(retained))
	var out []string
	for _, ns := range retained {
		next[ns] = struct{}{}
		if _, known := p.retained[ns]; !first && !known {
			out = append(out, ns)
		}
	}
	p.retained = next
	return out
}

// Leaks returns the leak analysis made of inputs with this digest, if it
// is the last one made.
func (p *Profile) Leaks(key string) ([]leaks.Leak, bool) {
	hit := p.leaks.set && p.leaks.key == key
	leaksLookups.count(hit)
	if !hit {
		return nil, false
	}
	return p.leaks.found, true
}

// RememberLeaks keeps a leak analysis and the digest of its inputs; an
// empty key forgets it.
func (p *Profile) RememberLeaks(key string, found []leaks.Leak) {
	p.leaks = leakMemo{key: key, found: found, set: key != ""}
}

// ReportTiers remembers the tiers reported in metrics now and returns those
// reported before that are gone (renamed or removed), whose series the
// caller deletes.
func (p *Profile) ReportTiers(tiers []string) (gone []string) {
	for _, t := range p.tiers {
		if !slices.Contains(tiers, t) {
			gone = append(gone, t)
		}
	}
	p.tiers = slices.Clone(tiers)
	return gone
}
