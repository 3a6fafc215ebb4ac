package leaks

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

// clusterPolicies sorts a cluster's ClusterNetworkPolicies for the
// analysis.
type clusterPolicies struct {
	// openers are the Admin policies besides the profile's with an Accept
	// or Pass rule that may be evaluated before the profile's.
	openers []*npav1beta1.ClusterNetworkPolicy
}

// classify finds the policies besides the profile's own that can open a
// boundary. Tierguard's Admin policies decide every connection into (and,
// with egress isolation, out of) a governed namespace, except within a tier
// where they pass it on, and a Pass skips the rest of the Admin tier: so a
// policy after Tierguard's highest priority never reaches a connection the
// profile forbids. One at an equal priority may come first (the API leaves
// the order undefined) and counts as before. Without Tierguard's policies
// (NetworkPolicy enforcement) every Admin policy comes before the
// NetworkPolicies.
func classify(profile *segv1.SegmentationProfile, all []npav1beta1.ClusterNetworkPolicy) clusterPolicies {
	var out clusterPolicies
	var last int32
	banded := false
	for i := range all {
		c := &all[i]
		if c.Spec.Tier != npav1beta1.BaselineTier && isManagedCluster(profile, c) && (!banded || c.Spec.Priority > last) {
			last, banded = c.Spec.Priority, true
		}
	}
	for i := range all {
		c := &all[i]
		if c.Spec.Tier == npav1beta1.BaselineTier || (banded && c.Spec.Priority > last) || isManagedCluster(profile, c) {
			continue
		}
		if opens(c) {
			out.openers = append(out.openers, c)
		}
	}
	return out
}

// managedKeys are the evaluate keys of the profile's own policies: they
// state the intent, and are never named as opening a hole.
func managedKeys(profile *segv1.SegmentationProfile, all []npav1beta1.ClusterNetworkPolicy) map[string]bool {
	out := map[string]bool{}
	for i := range all {
		if isManagedCluster(profile, &all[i]) {
			out[evaluate.ClusterPolicyKey(all[i].Name)] = true
		}
	}
	return out
}

// isManagedCluster recognizes the ClusterNetworkPolicies Tierguard writes
// for the profile. Another profile's are foreign to this one.
func isManagedCluster(profile *segv1.SegmentationProfile, c *npav1beta1.ClusterNetworkPolicy) bool {
	return strings.HasPrefix(c.Name, render.CNPNamePrefix) && c.Labels[render.ManagedByLabel] == render.ManagedByValue &&
		c.Labels[render.ProfileLabel] == profile.Name
}

// opens reports whether some rule accepts or passes traffic: a Deny rule
// only closes.
func opens(c *npav1beta1.ClusterNetworkPolicy) bool {
	for _, r := range c.Spec.Ingress {
		if r.Action != npav1beta1.ClusterNetworkPolicyRuleActionDeny {
			return true
		}
	}
	for _, r := range c.Spec.Egress {
		if r.Action != npav1beta1.ClusterNetworkPolicyRuleActionDeny {
			return true
		}
	}
	return false
}

// reachCluster adds the pairs an opening policy's Accept and Pass rules
// can reach: its subject namespaces with their ingress peers' namespaces,
// and, when the profile isolates egress, with their egress peers'
// (networks can hold any pod; nodes and domain names hold none).
func (x *peerIndex) reachCluster(c *npav1beta1.ClusterNetworkPolicy, to *pairs, egressIsolated bool) {
	subject := x.selected(c.Spec.Subject.Namespaces, c.Spec.Subject.Pods)
	ing := reachable{set: map[string]bool{}}
	for _, r := range c.Spec.Ingress {
		if r.Action == npav1beta1.ClusterNetworkPolicyRuleActionDeny {
			continue
		}
		for _, pr := range r.From {
			ing = ing.union(x.selected(pr.Namespaces, pr.Pods))
		}
	}
	to.add(ingress, subject, ing)
	if !egressIsolated {
		return
	}
	eg := reachable{set: map[string]bool{}}
	for _, r := range c.Spec.Egress {
		if r.Action == npav1beta1.ClusterNetworkPolicyRuleActionDeny {
			continue
		}
		for _, pr := range r.To {
			if len(pr.Networks) > 0 {
				eg = reachable{all: true}
				continue
			}
			eg = eg.union(x.selected(pr.Namespaces, pr.Pods))
		}
	}
	to.add(egress, subject, eg)
}

// selected returns the namespaces a namespaces selector, or a pods peer's
// namespace selector, matches; none when both are absent.
func (x *peerIndex) selected(namespaces *metav1.LabelSelector, pods *npav1beta1.NamespacedPod) reachable {
	sel := namespaces
	if sel == nil && pods != nil {
		sel = &pods.NamespaceSelector
	}
	if sel == nil {
		return reachable{}
	}
	m, ok := x.matching(sel)
	if !ok {
		return reachable{all: true}
	}
	return reachable{set: m}
}

func (r reachable) union(o reachable) reachable {
	if r.all || o.all {
		return reachable{all: true}
	}
	out := reachable{set: make(map[string]bool, len(r.set)+len(o.set))}
	for ns := range r.set {
		out.set[ns] = true
	}
	for ns := range o.set {
		out.set[ns] = true
	}
	return out
}
