package cli

import (
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

// matrixBuilder computes the pairs of one matrix.
type matrixBuilder struct {
	in      MatrixInput
	intent  *intent.Intent
	planned map[string]bool
	eval    *evaluate.Evaluator
	// ingressOnly and egressOnly see one direction of the policies each,
	// to tell which side blocks intended traffic; built when first needed.
	ingressOnly, egressOnly *evaluate.Evaluator
}

// pair evaluates one ordered pair of namespaces.
func (b *matrixBuilder) pair(from, to string) Pair {
	ask := b.eval.NamespacePair(from, to)
	np := ask.Ports()
	p := Pair{
		From: from, To: to,
		FromTier: b.intent.Tier(from), ToTier: b.intent.Tier(to),
		Exact:    np.Exact(),
		actual:   np.Possible,
		intended: b.intent.Ports(from, to),
		Policies: []string{},
	}
	p.extra = p.actual.Minus(p.intended)
	p.missing = p.intended.Minus(p.actual)
	p.Allowed, p.Ports = !p.actual.Empty(), p.actual.Strings()
	p.Intended, p.IntendedPorts = !p.intended.Empty(), p.intended.Strings()
	p.Differs = !p.extra.Empty() || !p.missing.Empty()

	rep := p.actual
	if !p.extra.Empty() {
		rep = p.extra
	}
	if !rep.Empty() {
		p.Policies = sortedUnion(ask.Policies(rep))
		if !p.extra.Empty() {
			v := firstVerdict(ask, rep)
			p.someOnly = !v.Exact
			p.Responsible = b.blame(p.Policies)
			p.unisolated = b.unisolated(from, to, v)
		}
	}
	if !p.missing.Empty() {
		p.Responsible = sortedUnion(p.Responsible, b.blockers(ask, from, to, p.missing))
	}
	if p.Differs {
		p.UnintendedPorts, p.MissingPorts = p.extra.Strings(), p.missing.Strings()
	}
	return p
}

// firstVerdict asks about the first port of a non-empty set, numbered or
// named.
func firstVerdict(pair *evaluate.NamespacePair, s evaluate.PortSet) evaluate.NamespaceVerdict {
	if len(s.Ranges) > 0 {
		return pair.Allowed(evaluate.Port{Protocol: s.Ranges[0].Protocol, Port: s.Ranges[0].From})
	}
	return pair.AllowedName(s.Names[0])
}

// blame keeps the policies that differ from the plan; Tierguard's planned
// policies state the intent. If only planned ones remain, the plan itself
// allows more than the intent (an allowedCIDRs holding pod addresses, say),
// and they are named.
func (b *matrixBuilder) blame(policies []string) []string {
	var out []string
	for _, p := range policies {
		if !b.planned[p] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return policies
	}
	return out
}

// unisolated explains an opening that exists because a governed side is
// not isolated at all, which happens when Tierguard's policy is missing.
// Without Tierguard's NetworkPolicies (ClusterNetworkPolicy enforcement)
// no policy is meant to isolate the side: what let the traffic reach it is
// named instead.
func (b *matrixBuilder) unisolated(from, to string, v evaluate.NamespaceVerdict) []string {
	if !render.UsesNetworkPolicies(b.in.Profile) {
		return nil
	}
	var out []string
	if v.UnisolatedDestination && b.intent.Tier(to) != "" {
		out = append(out, fmt.Sprintf("no policy isolates pods of %s for ingress", to))
	}
	if v.UnisolatedSource && b.intent.EgressIsolated() && b.intent.Tier(from) != "" {
		out = append(out, fmt.Sprintf("no policy isolates pods of %s for egress", from))
	}
	return out
}

// blockers returns the policies that block intended traffic on the first
// port of missing, on the side, or sides, that block it: the
// ClusterNetworkPolicies whose Deny rule refuses it there, else (the
// NetworkPolicies decide) the destination's Ingress policies or the
// source's Egress policies.
func (b *matrixBuilder) blockers(pair *evaluate.NamespacePair, from, to string, missing evaluate.PortSet) []string {
	if b.ingressOnly == nil {
		b.ingressOnly = b.evaluator(oneDirection(b.in.Policies, networkingv1.PolicyTypeIngress),
			oneClusterDirection(b.in.ClusterPolicies, networkingv1.PolicyTypeIngress))
		b.egressOnly = b.evaluator(oneDirection(b.in.Policies, networkingv1.PolicyTypeEgress),
			oneClusterDirection(b.in.ClusterPolicies, networkingv1.PolicyTypeEgress))
	}
	ingressBlocks := !firstVerdict(b.ingressOnly.NamespacePair(from, to), missing).Allowed
	egressBlocks := !firstVerdict(b.egressOnly.NamespacePair(from, to), missing).Allowed
	if !ingressBlocks && !egressBlocks {
		// Each side admits some pods, but no one pod pair satisfies both.
		ingressBlocks, egressBlocks = true, true
	}
	v := firstVerdict(pair, missing)
	var out []string
	if ingressBlocks {
		out = append(out, v.IngressRefusers...)
	}
	if egressBlocks {
		out = append(out, v.EgressRefusers...)
	}
	if len(out) > 0 {
		return b.blame(out)
	}
	for _, p := range b.in.Policies {
		key := p.Namespace + "/" + p.Name
		if (ingressBlocks && p.Namespace == to && hasPolicyType(&p, networkingv1.PolicyTypeIngress)) ||
			(egressBlocks && p.Namespace == from && hasPolicyType(&p, networkingv1.PolicyTypeEgress)) {
			out = append(out, key)
		}
	}
	return b.blame(out)
}

// oneDirection returns the policies of one type, reduced to it: a policy of
// both types keeps only that direction's rules.
func oneDirection(policies []networkingv1.NetworkPolicy, t networkingv1.PolicyType) []networkingv1.NetworkPolicy {
	var out []networkingv1.NetworkPolicy
	for _, p := range policies {
		if !hasPolicyType(&p, t) {
			continue
		}
		p.Spec.PolicyTypes = []networkingv1.PolicyType{t}
		if t == networkingv1.PolicyTypeIngress {
			p.Spec.Egress = nil
		} else {
			p.Spec.Ingress = nil
		}
		out = append(out, p)
	}
	return out
}

// oneClusterDirection returns the ClusterNetworkPolicies with the rules of
// one direction only.
func oneClusterDirection(policies []npav1beta1.ClusterNetworkPolicy, t networkingv1.PolicyType) []npav1beta1.ClusterNetworkPolicy {
	out := make([]npav1beta1.ClusterNetworkPolicy, 0, len(policies))
	for _, c := range policies {
		if t == networkingv1.PolicyTypeIngress {
			c.Spec.Egress = nil
		} else {
			c.Spec.Ingress = nil
		}
		out = append(out, c)
	}
	return out
}

// hasPolicyType applies the API's default: without policyTypes a policy is
// of type Ingress, and of type Egress too when it has egress rules.
func hasPolicyType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || (t == networkingv1.PolicyTypeEgress && len(p.Spec.Egress) > 0)
	}
	return slices.Contains(p.Spec.PolicyTypes, t)
}

// sortedUnion merges string lists into a sorted list without duplicates,
// never nil, so that JSON shows [].
func sortedUnion(lists ...[]string) []string {
	out := []string{}
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
