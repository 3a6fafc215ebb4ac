package controller

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/render"
)

// leakMemo is the last leak analysis of a profile and what it was made of,
// so that passes which change none of its inputs do not repeat it.
type leakMemo struct {
	key   string
	leaks []leaks.Leak
}

// verifyIsolation finds holes once Tierguard's own policies are in place:
// before that, the cluster does not yet show the intent, and the result is
// unknown.
func (r *ProfileReconciler) verifyIsolation(profile *segv1.SegmentationProfile, state observation, o *outcome) {
	audit := render.Mode(profile) == segv1.ModeAudit
	if len(o.failed) > 0 || (audit && len(o.actions) > 0) {
		return
	}
	o.isolationKnown = true
	foreign := slices.Clone(state.foreign)
	for _, p := range state.policies {
		// Labelled as Tierguard's but not its policy: foreign all the same.
		if o.plan.Lookup(p.Namespace) != nil && !isManagedPolicy(&p) {
			foreign = append(foreign, p)
		}
	}
	slices.SortFunc(foreign, func(a, b networkingv1.NetworkPolicy) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	if len(foreign) == 0 {
		r.leakMemos.Delete(profile.Name)
		return
	}
	key := leakKey(o.plan, state, foreign)
	if m, ok := r.leakMemos.Load(profile.Name); ok && m.(leakMemo).key == key {
		o.leaks = m.(leakMemo).leaks
		return
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
		policies = append(policies, *g.Policy)
	}
	o.leaks = leaks.Find(profile, o.plan, namespaces, policies)
	r.leakMemos.Store(profile.Name, leakMemo{key: key, leaks: o.leaks})
}

func isManagedPolicy(p *networkingv1.NetworkPolicy) bool {
	return p.Name == render.PolicyName && p.Labels[render.ManagedByLabel] == render.ManagedByValue
}

// leakKey identifies the inputs of a leak analysis: the plan, every
// namespace at its resourceVersion (labels are inputs, and a label change
// gives a new version) and every foreign policy at its version. Versions
// are the API server's, so no label a user writes can make two inputs hash
// alike, and no namespace's labels need sorting on every pass.
func leakKey(plan *render.Plan, state observation, foreign []networkingv1.NetworkPolicy) string {
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
	return hex.EncodeToString(h.Sum(nil))
}
