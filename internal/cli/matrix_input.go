package cli

import (
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tierguard/tierguard/internal/render"
)

// Applied returns the cluster as it is once Tierguard has applied the plan
// next to the given policies: governed namespaces carry the merged labels
// and the rendered policy, which replaces any tierguard-isolation policy
// given in them (it has that name, so the cluster cannot hold both).
func Applied(plan *render.Plan, namespaces []render.Namespace, policies []networkingv1.NetworkPolicy) ([]render.Namespace, []networkingv1.NetworkPolicy) {
	nss := make([]render.Namespace, 0, len(namespaces))
	for _, ns := range namespaces {
		if g := plan.Lookup(ns.Name); g != nil {
			ns.Labels = render.MergedLabels(ns.Labels, g.Labels)
		}
		nss = append(nss, ns)
	}
	var out []networkingv1.NetworkPolicy
	for _, p := range policies {
		if p.Name == render.PolicyName && plan.Lookup(p.Namespace) != nil {
			continue
		}
		out = append(out, p)
	}
	for _, g := range plan.Governed {
		out = append(out, *g.Policy)
	}
	sortPolicies(out)
	return nss, out
}

// plannedPolicies returns the "namespace/name" of Tierguard's policies that
// match the plan: they state the intent, so they are not to blame for a
// difference unless nothing else is.
func plannedPolicies(plan *render.Plan, policies []networkingv1.NetworkPolicy) map[string]bool {
	out := map[string]bool{}
	for _, p := range policies {
		g := plan.Lookup(p.Namespace)
		if p.Name == render.PolicyName && g != nil && equality.Semantic.DeepEqual(p.Spec, g.Policy.Spec) {
			out[p.Namespace+"/"+p.Name] = true
		}
	}
	return out
}

func hasNamedPort(policies []networkingv1.NetworkPolicy) bool {
	named := func(ps []networkingv1.NetworkPolicyPort) bool {
		return slices.ContainsFunc(ps, func(p networkingv1.NetworkPolicyPort) bool {
			return p.Port != nil && p.Port.Type == intstr.String
		})
	}
	for _, p := range policies {
		for _, r := range p.Spec.Ingress {
			if named(r.Ports) {
				return true
			}
		}
		for _, r := range p.Spec.Egress {
			if named(r.Ports) {
				return true
			}
		}
	}
	return false
}

func hasIPBlock(policies []networkingv1.NetworkPolicy) bool {
	for _, p := range policies {
		for _, r := range p.Spec.Ingress {
			if slices.ContainsFunc(r.From, func(pr networkingv1.NetworkPolicyPeer) bool { return pr.IPBlock != nil }) {
				return true
			}
		}
		for _, r := range p.Spec.Egress {
			if slices.ContainsFunc(r.To, func(pr networkingv1.NetworkPolicyPeer) bool { return pr.IPBlock != nil }) {
				return true
			}
		}
	}
	return false
}
