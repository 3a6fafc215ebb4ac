package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// TierLabelKey returns the profile's tierLabelKey, defaulted.
func TierLabelKey(p *segv1.SegmentationProfile) string {
	if p.Spec.TierLabelKey == "" {
		return DefaultTierLabelKey
	}
	return string(p.Spec.TierLabelKey)
}

// LeavePolicy returns the profile's leave policy, defaulted.
func LeavePolicy(p *segv1.SegmentationProfile) segv1.LeavePolicy {
	if p.Spec.LeavePolicy == "" {
		return segv1.LeavePolicyRetain
	}
	return p.Spec.LeavePolicy
}

// Mode returns the profile's mode, defaulted.
func Mode(p *segv1.SegmentationProfile) segv1.Mode {
	if p.Spec.Mode == "" {
		return segv1.ModeEnforce
	}
	return p.Spec.Mode
}

// Enforcement returns how the profile's tier boundaries are enforced,
// defaulted to NetworkPolicy.
func Enforcement(p *segv1.SegmentationProfile) segv1.Enforcement {
	if p.Spec.Enforcement == "" {
		return segv1.EnforcementNetworkPolicy
	}
	return p.Spec.Enforcement
}

// UsesNetworkPolicies reports whether the profile's enforcement writes a
// NetworkPolicy per governed namespace.
func UsesNetworkPolicies(p *segv1.SegmentationProfile) bool {
	return Enforcement(p) != segv1.EnforcementClusterNetworkPolicy
}

// UsesClusterNetworkPolicies reports whether the profile's enforcement
// writes Admin-tier ClusterNetworkPolicies.
func UsesClusterNetworkPolicies(p *segv1.SegmentationProfile) bool {
	return Enforcement(p) != segv1.EnforcementNetworkPolicy
}

// CNPPriority returns the first priority of the profile's band of two.
func CNPPriority(p *segv1.SegmentationProfile) int32 {
	if o := p.Spec.ClusterNetworkPolicy; o != nil && o.Priority != nil {
		return *o.Priority
	}
	return DefaultCNPPriority
}

// DeletionPolicy returns the profile's deletion policy, defaulted.
func DeletionPolicy(p *segv1.SegmentationProfile) segv1.DeletionPolicy {
	if p.Spec.DeletionPolicy == "" {
		return segv1.DeletionPolicyDelete
	}
	return p.Spec.DeletionPolicy
}

// tierPlan is what every namespace of one tier shares.
type tierPlan struct {
	labels map[string]string
	spec   networkingv1.NetworkPolicySpec
	hash   string
	// meta is the policy metadata the tier's namespaces share (labels,
	// annotations, owner references); only name and namespace differ.
	meta metav1.ObjectMeta
}

// policyRenderer renders each tier once; namespaces of a tier share it.
type policyRenderer struct {
	profile *segv1.SegmentationProfile
	key     string
	tiers   map[string]*tierPlan
}

func newPolicyRenderer(p *segv1.SegmentationProfile) *policyRenderer {
	return &policyRenderer{profile: p, key: TierLabelKey(p), tiers: map[string]*tierPlan{}}
}

// governed returns the plan of namespace ns in tier. The returned labels map,
// and the policy's spec, labels, annotations and owner references, are
// shared by the tier's namespaces: do not mutate them.
func (r *policyRenderer) governed(ns, tier string) GovernedNamespace {
	tp := r.tiers[tier]
	if tp == nil {
		tp = r.renderTier(tier)
		r.tiers[tier] = tp
	}
	return GovernedNamespace{Name: ns, Tier: tier, Labels: tp.labels, Policy: r.policy(ns, tp), Hash: tp.hash}
}

func (r *policyRenderer) policy(ns string, tp *tierPlan) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: tp.meta,
		Spec:       tp.spec,
	}
	np.Name, np.Namespace = PolicyName, ns
	return np
}

// policyMeta is the metadata of a tier's policies, shared by its namespaces.
func (r *policyRenderer) policyMeta(tier, hash string) metav1.ObjectMeta {
	p := r.profile
	meta := metav1.ObjectMeta{
		Labels: map[string]string{
			ManagedByLabel:  ManagedByValue,
			ProfileLabel:    p.Name,
			PolicyTierLabel: tier,
		},
		Annotations: map[string]string{PlanHashAnnotation: hash},
	}
	// A profile not yet in the cluster (an offline render) has no UID, and
	// an owner reference without one is refused by the API server.
	if DeletionPolicy(p) == segv1.DeletionPolicyDelete && p.UID != "" {
		meta.OwnerReferences = []metav1.OwnerReference{OwnerReference(p)}
	}
	return meta
}

// OwnerReference is the reference managed policies carry to a profile with
// deletionPolicy Delete.
func OwnerReference(p *segv1.SegmentationProfile) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: segv1.GroupVersion.String(),
		Kind:       "SegmentationProfile",
		Name:       p.Name,
		UID:        p.UID,
		Controller: ptr.To(true),
	}
}

func (r *policyRenderer) renderTier(name string) *tierPlan {
	p := r.profile
	tier := findTier(p, name)
	labels := map[string]string{r.key: name, ProfileLabel: p.Name}
	for k, v := range tier.NamespaceLabels {
		labels[k] = string(v)
	}
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress:     r.ingress(tier),
	}
	if p.Spec.Egress.Isolation == segv1.EgressIsolationTier {
		spec.PolicyTypes = append(spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		spec.Egress = r.egress(tier)
	}
	hash := planHash(p, name, labels, spec)
	return &tierPlan{labels: labels, spec: spec, hash: hash, meta: r.policyMeta(name, hash)}
}

// planHash identifies everything Tierguard writes for a namespace of a tier.
func planHash(p *segv1.SegmentationProfile, tier string, labels map[string]string, spec networkingv1.NetworkPolicySpec) string {
	data, _ := json.Marshal(struct {
		Tier     string                         `json:"tier"`
		Labels   map[string]string              `json:"labels"`
		Spec     networkingv1.NetworkPolicySpec `json:"spec"`
		Deletion segv1.DeletionPolicy           `json:"deletion"`
	}{Tier: tier, Labels: labels, Spec: spec, Deletion: DeletionPolicy(p)})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

func findTier(p *segv1.SegmentationProfile, name string) *segv1.Tier {
	for i := range p.Spec.Tiers {
		if string(p.Spec.Tiers[i].Name) == name {
			return &p.Spec.Tiers[i]
		}
	}
	return &segv1.Tier{Name: segv1.TierName(name)}
}

// ingress returns the ingress rules of a tier's policy, in the documented
// order; empty rules are omitted.
func (r *policyRenderer) ingress(tier *segv1.Tier) []networkingv1.NetworkPolicyIngressRule {
	var rules []networkingv1.NetworkPolicyIngressRule
	rules = append(rules, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{r.sameScope(tier)}})
	if peers := r.sharedPeers(); len(peers) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{From: peers})
	}
	for _, f := range r.profile.Spec.Flows {
		if string(f.To) == string(tier.Name) {
			rules = append(rules, networkingv1.NetworkPolicyIngressRule{
				From:  []networkingv1.NetworkPolicyPeer{r.tierPeer(string(f.From))},
				Ports: ports(f.Ports),
			})
		}
	}
	if peers := ipBlockPeers(tier.AllowedIngressCIDRs); len(peers) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{From: peers})
	}
	return rules
}

// egress returns the egress rules of a tier's policy (egress isolation Tier).
func (r *policyRenderer) egress(tier *segv1.Tier) []networkingv1.NetworkPolicyEgressRule {
	var rules []networkingv1.NetworkPolicyEgressRule
	rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{r.sameScope(tier)}})
	if peers := r.sharedPeers(); len(peers) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: peers})
	}
	for _, f := range r.profile.Spec.Flows {
		if string(f.From) == string(tier.Name) {
			rules = append(rules, networkingv1.NetworkPolicyEgressRule{
				To:    []networkingv1.NetworkPolicyPeer{r.tierPeer(string(f.To))},
				Ports: ports(f.Ports),
			})
		}
	}
	if AllowDNS(r.profile) {
		rules = append(rules, dnsRules(r.profile.Spec.Egress.DNSTargets)...)
	}
	if peers := ipBlockPeers(r.profile.Spec.Egress.AllowedCIDRs); len(peers) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: peers})
	}
	return rules
}

// DefaultDNSTargets is where DNS answers unless egress.dnsTargets says
// otherwise: kube-system pods labelled k8s-app=kube-dns, UDP and TCP 53.
var DefaultDNSTargets = []segv1.DNSTarget{{
	Namespace:   ptr.To(segv1.NamespaceName("kube-system")),
	PodSelector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"k8s-app": "kube-dns"}},
	Ports: []segv1.NetworkPolicyPort{
		{Protocol: segv1.Protocol(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
		{Protocol: segv1.Protocol(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
	},
}}

// dnsRules are the egress rules to the DNS targets, one per target, the
// defaults when none are given.
func dnsRules(targets []segv1.DNSTarget) []networkingv1.NetworkPolicyEgressRule {
	if len(targets) == 0 {
		targets = DefaultDNSTargets
	}
	rules := make([]networkingv1.NetworkPolicyEgressRule, 0, len(targets))
	for _, t := range targets {
		var peer networkingv1.NetworkPolicyPeer
		if t.CIDR != nil {
			peer.IPBlock = &networkingv1.IPBlock{CIDR: *t.CIDR}
		} else {
			peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{MetadataNameLabel: string(ptr.Deref(t.Namespace, ""))}}
			if t.PodSelector != nil {
				peer.PodSelector = MetaSelector(t.PodSelector)
			}
		}
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{peer}, Ports: ports(t.Ports)})
	}
	return rules
}

// AllowDNS returns the profile's egress.allowDNS, defaulted to true.
func AllowDNS(p *segv1.SegmentationProfile) bool {
	return p.Spec.Egress.AllowDNS == nil || *p.Spec.Egress.AllowDNS
}

// sameScope is the peer of a tier's own traffic: the tier's namespaces, or
// with isolation Namespace, the pods of the same namespace.
func (r *policyRenderer) sameScope(tier *segv1.Tier) networkingv1.NetworkPolicyPeer {
	if tier.Isolation == segv1.IsolationNamespace {
		return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}}
	}
	return r.tierPeer(string(tier.Name))
}

func (r *policyRenderer) tierPeer(tier string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{r.key: tier}},
	}
}

// sharedPeers select the shared namespaces: by the API server's
// kubernetes.io/metadata.name label (it cannot be forged) and by the shared
// selector.
func (r *policyRenderer) sharedPeers() []networkingv1.NetworkPolicyPeer {
	set := r.profile.Spec.SharedNamespaces
	if set == nil {
		return nil
	}
	var peers []networkingv1.NetworkPolicyPeer
	if len(set.Names) > 0 {
		names := make([]string, 0, len(set.Names))
		for _, n := range set.Names {
			names = append(names, string(n))
		}
		// names is a set (listType=set): reordering it must not change the
		// policy, or its plan hash, and so cause a rewrite.
		slices.Sort(names)
		peers = append(peers, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: MetadataNameLabel, Operator: metav1.LabelSelectorOpIn, Values: names,
			}},
		}})
	}
	if set.Selector != nil {
		peers = append(peers, networkingv1.NetworkPolicyPeer{NamespaceSelector: MetaSelector(set.Selector)})
	}
	return peers
}

func ports(in []segv1.NetworkPolicyPort) []networkingv1.NetworkPolicyPort {
	if len(in) == 0 {
		return nil
	}
	out := make([]networkingv1.NetworkPolicyPort, 0, len(in))
	for _, p := range in {
		proto := corev1.Protocol(p.Protocol)
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		np := networkingv1.NetworkPolicyPort{Protocol: &proto, EndPort: p.EndPort}
		if p.Port != nil {
			port := *p.Port
			np.Port = &port
		}
		out = append(out, np)
	}
	return out
}

func ipBlockPeers(blocks []segv1.IPBlock) []networkingv1.NetworkPolicyPeer {
	var peers []networkingv1.NetworkPolicyPeer
	for _, b := range blocks {
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: b.CIDR, Except: b.Except}})
	}
	return peers
}

// MergedLabels returns current merged with the labels Tierguard owns.
func MergedLabels(current, owned map[string]string) map[string]string {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, owned)
	return out
}
