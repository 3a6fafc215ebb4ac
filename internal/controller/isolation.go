package controller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/internal/watchcache"
)

// isolationResult is what a pass learnt of the profile's isolation.
type isolationResult struct {
	// known is set when the analysis ran; leaks are then the holes found.
	known bool
	leaks []leaks.Leak
	// err is why the foreign policies could not be listed.
	err error
	// listing is set while another pass lists the foreign policies of some
	// of the governed namespaces: the pass is repeated shortly.
	listing bool
	// unopposed is set when no governed namespace holds a foreign policy
	// and no other ClusterNetworkPolicy exists: nothing can punch a hole,
	// whatever the namespaces' labels.
	unopposed bool
}

// verifyIsolation finds holes once Tierguard's own policies are in place:
// before that, the cluster does not yet show the intent, and the result is
// unknown. The foreign policies are those of the namespaces the plan
// governs, which the store starts keeping now.
func (r *ProfileReconciler) verifyIsolation(ctx context.Context, profile *segv1.SegmentationProfile, mem *memory.Profile,
	state *observation, o outcome) isolationResult {
	if r.foreign == nil {
		return isolationResult{err: errors.New("the controller was not set up to watch foreign policies")}
	}
	names := make([]string, len(o.plan.Governed))
	for i := range o.plan.Governed {
		names[i] = o.plan.Governed[i].Name
	}
	listed, err := r.foreign.Govern(ctx, profile.Name, names)
	switch {
	case errors.Is(err, watchcache.ErrListing):
		return isolationResult{listing: true}
	case err != nil:
		return isolationResult{err: err}
	}
	return analyzeIsolation(profile, mem, state, o, listed)
}

// analyzeIsolation runs the leak analysis (internal/leaks) over the plan and
// the foreign policies, or answers from memory when none of its inputs
// changed since the last one.
func analyzeIsolation(profile *segv1.SegmentationProfile, mem *memory.Profile, state *observation, o outcome,
	foreign []networkingv1.NetworkPolicy) isolationResult {
	audit := render.Mode(profile) == segv1.ModeAudit
	if o.writes.count(writeFailed) > 0 || (audit && len(o.actions) > 0) {
		return isolationResult{}
	}
	foreign = slices.Clip(foreign) // appends below copy: the caller's slice stays as it is
	for _, p := range state.policies {
		// Labelled as Tierguard's but not its policy: foreign all the same.
		if !render.IsManagedPolicy(p) && o.plan.Lookup(p.Namespace) != nil {
			foreign = append(foreign, *p)
		}
	}
	slices.SortFunc(foreign, func(a, b networkingv1.NetworkPolicy) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	if len(foreign) == 0 && len(state.cnp.others) == 0 {
		mem.RememberLeaks("", nil)
		return isolationResult{known: true, unopposed: true}
	}
	key := leakKey(o.plan, state, foreign)
	if found, ok := mem.Leaks(key); ok {
		return isolationResult{known: true, leaks: found}
	}
	// Once the pass's writes are done, the governed namespaces carry the
	// planned labels and policies.
	namespaces := make([]render.Namespace, 0, len(state.input.Namespaces))
	for _, ns := range state.input.Namespaces {
		if g := o.plan.Lookup(ns.Name); g != nil {
			ns.Labels = render.MergedLabels(ns.Labels, g.Labels)
		}
		namespaces = append(namespaces, ns)
	}
	policies := slices.Clone(foreign)
	for _, g := range o.plan.Governed {
		if g.Policy != nil {
			policies = append(policies, *g.Policy)
		}
	}
	// Tierguard's ClusterNetworkPolicies as planned, next to every other.
	found := leaks.FindWith(profile, o.plan, namespaces, policies, slices.Concat(state.cnp.planned, state.cnp.others))
	mem.RememberLeaks(key, found)
	return isolationResult{known: true, leaks: found}
}

// leakKey identifies the inputs of a leak analysis: the plan, every
// namespace at its resourceVersion (labels are inputs, and a label change
// gives a new version) and every foreign policy at its version. Versions
// are the API server's, so no label a user writes can make two inputs hash
// alike, and no namespace's labels need sorting on every pass.
func leakKey(plan *render.Plan, state *observation, foreign []networkingv1.NetworkPolicy) string {
	h := sha256.New()
	for _, g := range plan.Governed {
		_, _ = io.WriteString(h, g.Name+"\x00"+g.Hash+"\x00")
	}
	for _, ns := range state.input.Namespaces {
		_, _ = fmt.Fprintf(h, "%s@%s/%t\x01", ns.Name, state.versions[ns.Name], ns.Terminating)
	}
	for _, p := range foreign {
		_, _ = fmt.Fprintf(h, "%s/%s@%s\x02", p.Namespace, p.Name, p.ResourceVersion)
	}
	for _, p := range state.cnp.planned {
		_, _ = fmt.Fprintf(h, "%s#%s\x03", p.Name, p.Annotations[render.PlanHashAnnotation])
	}
	for _, p := range state.cnp.others {
		_, _ = fmt.Fprintf(h, "%s@%s\x04", p.Name, p.ResourceVersion)
	}
	return hex.EncodeToString(h.Sum(nil))
}
