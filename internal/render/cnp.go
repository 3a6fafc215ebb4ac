package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// DefaultCNPPriority is the first of the two Admin-tier priorities Tierguard
// uses: per-namespace policies of Namespace-isolated tiers at it, tier
// boundaries at it plus one. Other administrators keep their own Admin
// policies outside [DefaultCNPPriority, DefaultCNPPriority+1], lower to
// take precedence over Tierguard's boundaries, higher to come after them.
const DefaultCNPPriority = 200

// CNPNamePrefix starts the name of every ClusterNetworkPolicy Tierguard
// writes.
const CNPNamePrefix = "tierguard."

// ClusterNetworkPolicies renders the Admin-tier ClusterNetworkPolicies that
// make the plan's tier boundaries hold whatever namespace owners write, from
// the same plan as the NetworkPolicies, sorted by name.
//
// Each tier gets one policy whose subject is the tier's namespaces, selected
// by the tier label and the profile label (both protected by admission, so
// no tenant can put a namespace under, or take it out of, a boundary).
// Its ingress rules, in the order they are evaluated:
//
//  1. Pass from the tier's own namespaces (isolation Tier): namespace owners
//     keep control of traffic inside their tier with NetworkPolicies.
//  2. Accept from each flow's source tier, on the flow's ports.
//  3. Accept from the shared namespaces, selected by name.
//  4. Deny from every namespace.
//
// Traffic from outside the cluster (allowedIngressCIDRs) is left to the
// NetworkPolicy tier: a ClusterNetworkPolicy's ingress peers cannot name
// networks. With egress isolation the egress rules mirror them (Pass to the
// tier, Accept to flow targets, to shared namespaces, to the DNS targets and
// to allowedCIDRs minus their excepts), and end in a Deny to every namespace
// and every network.
//
// A ClusterNetworkPolicy cannot say "the same namespace", so each namespace
// of a Namespace-isolated tier gets a policy of its own, one priority
// earlier, that passes its own traffic (by its kubernetes.io/metadata.name
// label, which the API server sets and nobody can forge).
//
// A flow on a named port cannot be rendered: the standard channel of
// ClusterNetworkPolicy has no named ports (destinationNamedPort is
// experimental), and neither widening it to every port nor passing it to
// the NetworkPolicy tier (where any namespace owner could open more) keeps
// the boundary. Such a profile gets an error naming the flow.
func ClusterNetworkPolicies(p *segv1.SegmentationProfile, plan *Plan, priority int32) ([]npav1beta1.ClusterNetworkPolicy, error) {
	for _, f := range p.Spec.Flows {
		for _, port := range f.Ports {
			if port.Port != nil && port.Port.Type == intstr.String {
				return nil, fmt.Errorf("flow %s to %s: the named port %q cannot be enforced by a ClusterNetworkPolicy (named ports are not in its standard channel); use the port number",
					f.From, f.To, port.Port.StrVal)
			}
		}
	}
	r := cnpRenderer{profile: p, key: TierLabelKey(p), shared: plan.Shared}
	var out []npav1beta1.ClusterNetworkPolicy
	for i := range p.Spec.Tiers {
		tier := &p.Spec.Tiers[i]
		out = append(out, r.tierPolicy(tier, priority+1))
		if tier.Isolation != segv1.IsolationNamespace {
			continue
		}
		for _, g := range plan.Governed {
			if g.Tier == string(tier.Name) {
				out = append(out, r.namespacePolicy(tier, g.Name, priority))
			}
		}
	}
	slices.SortFunc(out, func(a, b npav1beta1.ClusterNetworkPolicy) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

type cnpRenderer struct {
	profile *segv1.SegmentationProfile
	key     string
	shared  []string
}

func (r cnpRenderer) egressIsolated() bool {
	return r.profile.Spec.Egress.Isolation == segv1.EgressIsolationTier
}

// tierPolicy is the boundary of one tier.
func (r cnpRenderer) tierPolicy(tier *segv1.Tier, priority int32) npav1beta1.ClusterNetworkPolicy {
	name := string(tier.Name)
	spec := npav1beta1.ClusterNetworkPolicySpec{
		Tier:     npav1beta1.AdminTier,
		Priority: priority,
		Subject:  npav1beta1.ClusterNetworkPolicySubject{Namespaces: r.tierSelector(name)},
	}
	if tier.Isolation != segv1.IsolationNamespace {
		spec.Ingress = append(spec.Ingress, ingressRule("pass-same-tier", npav1beta1.ClusterNetworkPolicyRuleActionPass,
			npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: r.tierSelector(name)}, nil))
	}
	for _, f := range r.profile.Spec.Flows {
		if string(f.To) == name {
			spec.Ingress = append(spec.Ingress, ingressRule("accept-flow-from-"+string(f.From), npav1beta1.ClusterNetworkPolicyRuleActionAccept,
				npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: r.tierSelector(string(f.From))}, cnpProtocols(f.Ports)))
		}
	}
	if sel := r.sharedSelector(); sel != nil {
		spec.Ingress = append(spec.Ingress, ingressRule("accept-shared", npav1beta1.ClusterNetworkPolicyRuleActionAccept,
			npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: sel}, nil))
	}
	spec.Ingress = append(spec.Ingress, ingressRule("deny-other-namespaces", npav1beta1.ClusterNetworkPolicyRuleActionDeny,
		npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: &metav1.LabelSelector{}}, nil))
	if r.egressIsolated() {
		spec.Egress = r.tierEgress(tier)
	}
	return r.policy(cnpName(r.profile.Name, name), name, spec)
}

func (r cnpRenderer) tierEgress(tier *segv1.Tier) []npav1beta1.ClusterNetworkPolicyEgressRule {
	name := string(tier.Name)
	var rules []npav1beta1.ClusterNetworkPolicyEgressRule
	if tier.Isolation != segv1.IsolationNamespace {
		rules = append(rules, egressRule("pass-same-tier", npav1beta1.ClusterNetworkPolicyRuleActionPass,
			[]npav1beta1.ClusterNetworkPolicyEgressPeer{{Namespaces: r.tierSelector(name)}}, nil))
	}
	for _, f := range r.profile.Spec.Flows {
		if string(f.From) == name {
			rules = append(rules, egressRule("accept-flow-to-"+string(f.To), npav1beta1.ClusterNetworkPolicyRuleActionAccept,
				[]npav1beta1.ClusterNetworkPolicyEgressPeer{{Namespaces: r.tierSelector(string(f.To))}}, cnpProtocols(f.Ports)))
		}
	}
	if sel := r.sharedSelector(); sel != nil {
		rules = append(rules, egressRule("accept-shared", npav1beta1.ClusterNetworkPolicyRuleActionAccept,
			[]npav1beta1.ClusterNetworkPolicyEgressPeer{{Namespaces: sel}}, nil))
	}
	if AllowDNS(r.profile) {
		targets := r.profile.Spec.Egress.DNSTargets
		if len(targets) == 0 {
			targets = DefaultDNSTargets
		}
		for i, t := range targets {
			var peer npav1beta1.ClusterNetworkPolicyEgressPeer
			if t.CIDR != nil {
				peer.Networks = []npav1beta1.CIDR{npav1beta1.CIDR(*t.CIDR)}
			} else {
				ns := &metav1.LabelSelector{MatchLabels: map[string]string{MetadataNameLabel: string(*t.Namespace)}}
				if t.PodSelector != nil {
					peer.Pods = &npav1beta1.NamespacedPod{NamespaceSelector: *ns, PodSelector: *MetaSelector(t.PodSelector)}
				} else {
					peer.Namespaces = ns
				}
			}
			rules = append(rules, egressRule(ruleName("accept-dns", i), npav1beta1.ClusterNetworkPolicyRuleActionAccept,
				[]npav1beta1.ClusterNetworkPolicyEgressPeer{peer}, cnpProtocols(t.Ports)))
		}
	}
	if nets := networksOf(r.profile.Spec.Egress.AllowedCIDRs); len(nets) > 0 {
		var peers []npav1beta1.ClusterNetworkPolicyEgressPeer
		for chunk := range slices.Chunk(nets, maxNetworksPerPeer) {
			peers = append(peers, npav1beta1.ClusterNetworkPolicyEgressPeer{Networks: chunk})
		}
		rules = append(rules, egressRule("accept-allowed-cidrs", npav1beta1.ClusterNetworkPolicyRuleActionAccept, peers, nil))
	}
	rules = append(rules, egressRule("deny-everything-else", npav1beta1.ClusterNetworkPolicyRuleActionDeny,
		[]npav1beta1.ClusterNetworkPolicyEgressPeer{
			{Namespaces: &metav1.LabelSelector{}},
			{Networks: []npav1beta1.CIDR{"0.0.0.0/0", "::/0"}},
		}, nil))
	return rules
}

// namespacePolicy passes one namespace's own traffic (isolation Namespace).
func (r cnpRenderer) namespacePolicy(tier *segv1.Tier, ns string, priority int32) npav1beta1.ClusterNetworkPolicy {
	self := &metav1.LabelSelector{MatchLabels: map[string]string{MetadataNameLabel: ns}}
	spec := npav1beta1.ClusterNetworkPolicySpec{
		Tier:     npav1beta1.AdminTier,
		Priority: priority,
		Subject:  npav1beta1.ClusterNetworkPolicySubject{Namespaces: self},
		Ingress: []npav1beta1.ClusterNetworkPolicyIngressRule{ingressRule("pass-same-namespace", npav1beta1.ClusterNetworkPolicyRuleActionPass,
			npav1beta1.ClusterNetworkPolicyIngressPeer{Namespaces: self}, nil)},
	}
	if r.egressIsolated() {
		spec.Egress = []npav1beta1.ClusterNetworkPolicyEgressRule{egressRule("pass-same-namespace", npav1beta1.ClusterNetworkPolicyRuleActionPass,
			[]npav1beta1.ClusterNetworkPolicyEgressPeer{{Namespaces: self}}, nil)}
	}
	return r.policy(cnpName(r.profile.Name, string(tier.Name), ns), string(tier.Name), spec)
}

// policy wraps a spec with the metadata every managed object carries.
func (r cnpRenderer) policy(name, tier string, spec npav1beta1.ClusterNetworkPolicySpec) npav1beta1.ClusterNetworkPolicy {
	data, _ := json.Marshal(struct {
		Spec     npav1beta1.ClusterNetworkPolicySpec `json:"spec"`
		Deletion segv1.DeletionPolicy                `json:"deletion"`
	}{spec, DeletionPolicy(r.profile)})
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:8])
	meta := metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{ManagedByLabel: ManagedByValue, ProfileLabel: r.profile.Name, PolicyTierLabel: tier},
		Annotations: map[string]string{PlanHashAnnotation: hash},
	}
	if DeletionPolicy(r.profile) == segv1.DeletionPolicyDelete && r.profile.UID != "" {
		meta.OwnerReferences = []metav1.OwnerReference{OwnerReference(r.profile)}
	}
	return npav1beta1.ClusterNetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: npav1beta1.GroupVersion.String(), Kind: "ClusterNetworkPolicy"},
		ObjectMeta: meta,
		Spec:       spec,
	}
}

// tierSelector selects a tier's namespaces by the protected labels.
func (r cnpRenderer) tierSelector(tier string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{r.key: tier, ProfileLabel: r.profile.Name}}
}

// sharedSelector selects the shared namespaces by name, or nil when none.
func (r cnpRenderer) sharedSelector() *metav1.LabelSelector {
	if len(r.shared) == 0 {
		return nil
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: MetadataNameLabel, Operator: metav1.LabelSelectorOpIn, Values: slices.Clone(r.shared),
	}}}
}

func ingressRule(name string, action npav1beta1.ClusterNetworkPolicyRuleAction, from npav1beta1.ClusterNetworkPolicyIngressPeer,
	protocols []npav1beta1.ClusterNetworkPolicyProtocol) npav1beta1.ClusterNetworkPolicyIngressRule {
	return npav1beta1.ClusterNetworkPolicyIngressRule{Name: truncateRuleName(name), Action: action,
		From: []npav1beta1.ClusterNetworkPolicyIngressPeer{from}, Protocols: protocols}
}

func egressRule(name string, action npav1beta1.ClusterNetworkPolicyRuleAction, to []npav1beta1.ClusterNetworkPolicyEgressPeer,
	protocols []npav1beta1.ClusterNetworkPolicyProtocol) npav1beta1.ClusterNetworkPolicyEgressRule {
	return npav1beta1.ClusterNetworkPolicyEgressRule{Name: truncateRuleName(name), Action: action, To: to, Protocols: protocols}
}

// maxRuleName is the schema's bound of a rule name.
const maxRuleName = 100

func truncateRuleName(name string) string {
	if len(name) <= maxRuleName {
		return name
	}
	return name[:maxRuleName]
}

func ruleName(prefix string, i int) string {
	if i == 0 {
		return prefix
	}
	return prefix + "-" + strconv.Itoa(i+1)
}

// cnpName joins the parts with dots: tier and namespace names hold none, so
// the name of one profile's tier never equals another's. A name beyond the
// 253 bytes of a DNS subdomain keeps its start and ends in a digest.
func cnpName(parts ...string) string {
	name := CNPNamePrefix + strings.Join(parts, ".")
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimRight(name[:253-17], ".-") + "." + hex.EncodeToString(sum[:8])
}

// cnpProtocols converts numeric ports (named ones are refused before);
// none means every port (no protocols).
func cnpProtocols(in []segv1.NetworkPolicyPort) []npav1beta1.ClusterNetworkPolicyProtocol {
	if len(in) == 0 {
		return nil
	}
	out := make([]npav1beta1.ClusterNetworkPolicyProtocol, 0, len(in))
	for _, p := range in {
		// Every port of the protocol is the full range: the schema refuses a
		// protocol without a port.
		port := &npav1beta1.Port{Range: &npav1beta1.PortRange{Start: 1, End: 65535}}
		if p.Port != nil {
			port = &npav1beta1.Port{Number: p.Port.IntVal}
			if p.EndPort != nil {
				port = &npav1beta1.Port{Range: &npav1beta1.PortRange{Start: p.Port.IntVal, End: *p.EndPort}}
			}
		}
		var proto npav1beta1.ClusterNetworkPolicyProtocol
		switch corev1.Protocol(p.Protocol) {
		case corev1.ProtocolUDP:
			proto.UDP = &npav1beta1.ClusterNetworkPolicyProtocolUDP{DestinationPort: port}
		case corev1.ProtocolSCTP:
			proto.SCTP = &npav1beta1.ClusterNetworkPolicyProtocolSCTP{DestinationPort: port}
		default:
			proto.TCP = &npav1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: port}
		}
		out = append(out, proto)
	}
	return out
}

// maxNetworksPerPeer is the schema's bound of networks in one peer.
const maxNetworksPerPeer = 25

// networksOf turns IP blocks into networks: a ClusterNetworkPolicy has no
// "except", so each block becomes the prefixes that cover its CIDR without
// its excepts.
func networksOf(blocks []segv1.IPBlock) []npav1beta1.CIDR {
	var out []npav1beta1.CIDR
	for _, b := range blocks {
		cidr, err := netip.ParsePrefix(b.CIDR)
		if err != nil {
			continue // refused at admission; never rendered
		}
		parts := []netip.Prefix{cidr.Masked()}
		for _, e := range b.Except {
			ex, err := netip.ParsePrefix(e)
			if err != nil {
				continue
			}
			parts = subtractPrefix(parts, ex.Masked())
		}
		for _, p := range parts {
			out = append(out, npav1beta1.CIDR(p.String()))
		}
	}
	return out
}

// subtractPrefix removes ex from every prefix of ps: a prefix inside ex
// goes, one containing it splits into the halves that avoid it.
func subtractPrefix(ps []netip.Prefix, ex netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		switch {
		case p.Addr().Is4() != ex.Addr().Is4() || !p.Overlaps(ex):
			out = append(out, p)
		case ex.Bits() <= p.Bits():
			// p lies inside ex: removed whole.
		default:
			out = append(out, split(p, ex)...)
		}
	}
	return out
}

// split returns the prefixes that cover p without ex, which p strictly
// contains: at each bit between them, the half that does not hold ex.
func split(p, ex netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for bits := p.Bits() + 1; bits <= ex.Bits(); bits++ {
		inside, _ := ex.Addr().Prefix(bits)
		out = append(out, sibling(inside))
	}
	return out
}

// sibling is the other half of the prefix one bit shorter than p.
func sibling(p netip.Prefix) netip.Prefix {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	b[bit/8] ^= 0x80 >> (bit % 8)
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr, p.Bits())
}
