package cli

import (
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

// Applied returns the cluster as it is once Tierguard has applied the plan
// next to the given policies: governed namespaces carry the merged labels;
// when the profile's enforcement writes NetworkPolicies, each holds the
// rendered policy, which replaces any tierguard-isolation policy given in
// it (it has that name, so the cluster cannot hold both); when it writes
// ClusterNetworkPolicies, the rendered ones replace any of the profile's
// given (recognized by their labels and name prefix). A profile whose
// enforcement leaves out a kind has none of its own of that kind.
func Applied(profile *segv1.SegmentationProfile, plan *render.Plan, namespaces []render.Namespace,
	policies []networkingv1.NetworkPolicy, clusterPolicies []npav1beta1.ClusterNetworkPolicy) (
	[]render.Namespace, []networkingv1.NetworkPolicy, []npav1beta1.ClusterNetworkPolicy, error) {
	nss := make([]render.Namespace, 0, len(namespaces))
	for _, ns := range namespaces {
		if g := plan.Lookup(ns.Name); g != nil {
			ns.Labels = render.MergedLabels(ns.Labels, g.Labels)
		}
		nss = append(nss, ns)
	}
	var nps []networkingv1.NetworkPolicy
	for _, p := range policies {
		if p.Name == render.PolicyName && plan.Lookup(p.Namespace) != nil {
			continue
		}
		nps = append(nps, p)
	}
	if render.UsesNetworkPolicies(profile) {
		for _, g := range plan.Governed {
			nps = append(nps, *g.Policy)
		}
	}
	sortPolicies(nps)
	var cnps []npav1beta1.ClusterNetworkPolicy
	for i := range clusterPolicies {
		if !isProfileClusterPolicy(profile, &clusterPolicies[i]) {
			cnps = append(cnps, clusterPolicies[i])
		}
	}
	planned, err := plannedClusterPolicies(profile, plan)
	if err != nil {
		return nil, nil, nil, err
	}
	cnps = append(cnps, planned...)
	sortClusterPolicies(cnps)
	return nss, nps, cnps, nil
}

// plannedClusterPolicies renders the profile's ClusterNetworkPolicies when
// its enforcement writes them.
func plannedClusterPolicies(profile *segv1.SegmentationProfile, plan *render.Plan) ([]npav1beta1.ClusterNetworkPolicy, error) {
	if !render.UsesClusterNetworkPolicies(profile) {
		return nil, nil
	}
	return render.ClusterNetworkPolicies(profile, plan, render.CNPPriority(profile))
}

// isProfileClusterPolicy recognizes the ClusterNetworkPolicies Tierguard
// writes for the profile, as the controller does.
func isProfileClusterPolicy(profile *segv1.SegmentationProfile, c *npav1beta1.ClusterNetworkPolicy) bool {
	return strings.HasPrefix(c.Name, render.CNPNamePrefix) && c.Labels[render.ManagedByLabel] == render.ManagedByValue &&
		c.Labels[render.ProfileLabel] == profile.Name
}

// plannedPolicies returns the keys of Tierguard's policies that match the
// plan: its NetworkPolicies ("namespace/name") and, when its enforcement
// writes them, its ClusterNetworkPolicies ("ClusterNetworkPolicy/name").
// They state the intent, so they are not to blame for a difference unless
// nothing else is.
func plannedPolicies(profile *segv1.SegmentationProfile, plan *render.Plan, policies []networkingv1.NetworkPolicy,
	clusterPolicies []npav1beta1.ClusterNetworkPolicy) (map[string]bool, error) {
	out := map[string]bool{}
	for _, p := range policies {
		g := plan.Lookup(p.Namespace)
		if p.Name == render.PolicyName && g != nil && equality.Semantic.DeepEqual(p.Spec, g.Policy.Spec) {
			out[p.Namespace+"/"+p.Name] = true
		}
	}
	planned, err := plannedClusterPolicies(profile, plan)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*npav1beta1.ClusterNetworkPolicy, len(planned))
	for i := range planned {
		byName[planned[i].Name] = &planned[i]
	}
	for i := range clusterPolicies {
		c := &clusterPolicies[i]
		if want := byName[c.Name]; want != nil && isProfileClusterPolicy(profile, c) && equality.Semantic.DeepEqual(c.Spec, want.Spec) {
			out[evaluate.ClusterPolicyKey(c.Name)] = true
		}
	}
	return out, nil
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

// hasNetworks reports whether some ClusterNetworkPolicy has a networks
// peer, which, like an ipBlock, matches pods by address.
func hasNetworks(clusterPolicies []npav1beta1.ClusterNetworkPolicy) bool {
	for _, c := range clusterPolicies {
		for _, r := range c.Spec.Egress {
			if slices.ContainsFunc(r.To, func(pr npav1beta1.ClusterNetworkPolicyEgressPeer) bool { return len(pr.Networks) > 0 }) {
				return true
			}
		}
	}
	return false
}

// hasNamedClusterPort reports whether some ClusterNetworkPolicy names a
// destination port.
func hasNamedClusterPort(clusterPolicies []npav1beta1.ClusterNetworkPolicy) bool {
	named := func(ps []npav1beta1.ClusterNetworkPolicyProtocol) bool {
		return slices.ContainsFunc(ps, func(p npav1beta1.ClusterNetworkPolicyProtocol) bool { return p.DestinationNamedPort != "" })
	}
	for _, c := range clusterPolicies {
		for _, r := range c.Spec.Ingress {
			if named(r.Protocols) {
				return true
			}
		}
		for _, r := range c.Spec.Egress {
			if named(r.Protocols) {
				return true
			}
		}
	}
	return false
}
