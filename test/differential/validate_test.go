package differential

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// validate refuses what the API server would refuse, for the fields the
// generator writes: networking/v1 validation for NetworkPolicies, the
// standard-channel CRD schema of network-policy-api v0.3.0 for
// ClusterNetworkPolicies (config/crd/standard), core/v1 validation for
// container ports. The generator is built to pass it; the shrinker uses it
// to drop only what leaves a valid cluster.
func validate(c *cluster) error {
	var errs []error
	seen := map[string]bool{}
	nsNames := map[string]bool{}
	for _, ns := range c.Namespaces {
		if nsNames[ns.Name] {
			errs = append(errs, fmt.Errorf("namespace %s twice", ns.Name))
		}
		nsNames[ns.Name] = true
		errs = append(errs, validLabels("namespace "+ns.Name, ns.Labels))
	}
	pods := map[string]bool{}
	for _, p := range c.Pods {
		key := p.Namespace + "/" + p.Name
		if p.Namespace == "" || p.Name == "" || pods[key] {
			errs = append(errs, fmt.Errorf("pod %q: empty or repeated name", key))
		}
		pods[key] = true
		errs = append(errs, validAddress("pod "+key, p.IP, seen), validLabels("pod "+key, p.Labels))
		names := map[string]bool{}
		for _, cp := range p.Ports {
			if names[cp.Name] || len(validation.IsValidPortName(cp.Name)) > 0 || len(validation.IsValidPortNum(int(cp.Port))) > 0 ||
				!slices.Contains([]corev1.Protocol{"", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}, cp.Protocol) {
				errs = append(errs, fmt.Errorf("pod %s: port %+v", key, cp))
			}
			names[cp.Name] = true
		}
	}
	for _, ip := range c.External {
		errs = append(errs, validAddress("external", ip, seen))
	}
	npNames := map[string]bool{}
	for i := range c.Policies {
		np := &c.Policies[i]
		key := np.Namespace + "/" + np.Name
		if np.Namespace == "" || np.Name == "" || npNames[key] {
			errs = append(errs, fmt.Errorf("policy %q: empty or repeated name", key))
		}
		npNames[key] = true
		if err := validPolicy(np); err != nil {
			errs = append(errs, fmt.Errorf("policy %s: %w", key, err))
		}
	}
	cnpNames := map[string]bool{}
	for i := range c.ClusterPolicies {
		cnp := &c.ClusterPolicies[i]
		if cnp.Name == "" || cnpNames[cnp.Name] {
			errs = append(errs, fmt.Errorf("cluster network policy %q: empty or repeated name", cnp.Name))
		}
		cnpNames[cnp.Name] = true
		if err := validClusterPolicy(cnp); err != nil {
			errs = append(errs, fmt.Errorf("cluster network policy %s: %w", cnp.Name, err))
		}
	}
	return errors.Join(errs...)
}

func validAddress(what, ip string, seen map[string]bool) error {
	// The API server stores pod IPs in canonical form only.
	if a, err := netip.ParseAddr(ip); err != nil || a.String() != ip || seen[ip] {
		return fmt.Errorf("%s: address %q unparsable, not canonical or repeated", what, ip)
	}
	seen[ip] = true
	return nil
}

func validLabels(what string, labels map[string]string) error {
	for k, v := range labels {
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			return fmt.Errorf("%s: label %s=%s", what, k, v)
		}
	}
	return nil
}

// validSelector is metav1's label selector validation: In and NotIn need
// values, Exists and DoesNotExist take none.
func validSelector(s *metav1.LabelSelector) error {
	if s == nil {
		return nil
	}
	if err := validLabels("matchLabels", s.MatchLabels); err != nil {
		return err
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				return fmt.Errorf("%s %s without values", r.Key, r.Operator)
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				return fmt.Errorf("%s %s with values", r.Key, r.Operator)
			}
		default:
			return fmt.Errorf("operator %q", r.Operator)
		}
	}
	_, err := metav1.LabelSelectorAsSelector(s)
	return err
}

func validPolicy(np *networkingv1.NetworkPolicy) error {
	if err := validSelector(&np.Spec.PodSelector); err != nil {
		return err
	}
	if len(np.Spec.PolicyTypes) > 2 {
		return errors.New("more than two policyTypes")
	}
	for i, t := range np.Spec.PolicyTypes {
		if (t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress) || slices.Contains(np.Spec.PolicyTypes[:i], t) {
			return fmt.Errorf("policyTypes %v", np.Spec.PolicyTypes)
		}
	}
	for _, r := range np.Spec.Ingress {
		if err := validRule(r.From, r.Ports); err != nil {
			return err
		}
	}
	for _, r := range np.Spec.Egress {
		if err := validRule(r.To, r.Ports); err != nil {
			return err
		}
	}
	return nil
}

func validRule(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) error {
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			if p.PodSelector != nil || p.NamespaceSelector != nil {
				return errors.New("ipBlock with a selector")
			}
			// Legacy CIDR fields: host bits are accepted (with a
			// warning) and ignored.
			cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
			if err != nil {
				return fmt.Errorf("ipBlock cidr %q", p.IPBlock.CIDR)
			}
			cidr = cidr.Masked()
			for _, x := range p.IPBlock.Except {
				ex, err := netip.ParsePrefix(x)
				if err != nil || ex.Addr().Is4() != cidr.Addr().Is4() || ex.Bits() <= cidr.Bits() || !cidr.Contains(ex.Addr()) {
					return fmt.Errorf("ipBlock except %q of %q", x, p.IPBlock.CIDR)
				}
			}
		case p.PodSelector == nil && p.NamespaceSelector == nil:
			return errors.New("empty peer")
		}
		if err := errors.Join(validSelector(p.PodSelector), validSelector(p.NamespaceSelector)); err != nil {
			return err
		}
	}
	for _, p := range ports {
		if p.Protocol != nil && !slices.Contains([]corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}, *p.Protocol) {
			return fmt.Errorf("protocol %q", *p.Protocol)
		}
		switch {
		case p.Port == nil:
			if p.EndPort != nil {
				return errors.New("endPort without port")
			}
		case p.Port.Type == intstr.String:
			if p.EndPort != nil || len(validation.IsValidPortName(p.Port.StrVal)) > 0 {
				return fmt.Errorf("named port %q", p.Port.StrVal)
			}
		default:
			if len(validation.IsValidPortNum(int(p.Port.IntVal))) > 0 ||
				(p.EndPort != nil && (*p.EndPort < p.Port.IntVal || *p.EndPort > 65535)) {
				return fmt.Errorf("port %d endPort %v", p.Port.IntVal, p.EndPort)
			}
		}
	}
	return nil
}

// The bounds of the network-policy-api v0.3.0 CRD (standard channel).
const (
	maxCNPRules     = 25
	maxCNPPeers     = 25
	maxCNPNetworks  = 25
	maxCNPProtocols = 25
	maxCNPPriority  = 1000
	maxCNPRuleName  = 100
	maxCIDRLength   = 43
)

func validClusterPolicy(c *npav1beta1.ClusterNetworkPolicy) error {
	s := c.Spec
	if s.Tier != npav1beta1.AdminTier && s.Tier != npav1beta1.BaselineTier {
		return fmt.Errorf("tier %q", s.Tier)
	}
	if s.Priority < 0 || s.Priority > maxCNPPriority {
		return fmt.Errorf("priority %d", s.Priority)
	}
	switch {
	case (s.Subject.Namespaces == nil) == (s.Subject.Pods == nil):
		return errors.New("subject must set exactly one field")
	case s.Subject.Namespaces != nil:
		if err := validSelector(s.Subject.Namespaces); err != nil {
			return err
		}
	default:
		if err := validNamespacedPod(s.Subject.Pods); err != nil {
			return err
		}
	}
	if len(s.Ingress) > maxCNPRules || len(s.Egress) > maxCNPRules {
		return errors.New("more than 25 rules")
	}
	for _, r := range s.Ingress {
		if err := validCNPRule(r.Name, r.Action, len(r.From), r.Protocols); err != nil {
			return err
		}
		for _, p := range r.From {
			if err := validCNPPeer(p.Namespaces, p.Pods, nil); err != nil {
				return err
			}
		}
	}
	for _, r := range s.Egress {
		if err := validCNPRule(r.Name, r.Action, len(r.To), r.Protocols); err != nil {
			return err
		}
		for _, p := range r.To {
			if p.Nodes != nil || len(p.DomainNames) > 0 {
				return errors.New("nodes and domainNames are not in the standard channel")
			}
			if err := validCNPPeer(p.Namespaces, p.Pods, p.Networks); err != nil {
				return err
			}
		}
	}
	return nil
}

func validNamespacedPod(p *npav1beta1.NamespacedPod) error {
	return errors.Join(validSelector(&p.NamespaceSelector), validSelector(&p.PodSelector))
}

func validCNPRule(name string, action npav1beta1.ClusterNetworkPolicyRuleAction, peers int, protocols []npav1beta1.ClusterNetworkPolicyProtocol) error {
	if len(name) > maxCNPRuleName {
		return errors.New("rule name too long")
	}
	switch action {
	case npav1beta1.ClusterNetworkPolicyRuleActionAccept, npav1beta1.ClusterNetworkPolicyRuleActionDeny, npav1beta1.ClusterNetworkPolicyRuleActionPass:
	default:
		return fmt.Errorf("action %q", action)
	}
	if peers < 1 || peers > maxCNPPeers {
		return fmt.Errorf("%d peers", peers)
	}
	// protocols: absent, or 1 to 25 items (an empty list is dropped by the
	// JSON encoding, so it cannot reach the API server as such).
	if len(protocols) > maxCNPProtocols {
		return errors.New("more than 25 protocols")
	}
	for _, p := range protocols {
		var port *npav1beta1.Port
		set := 0
		if p.TCP != nil {
			set, port = set+1, p.TCP.DestinationPort
		}
		if p.UDP != nil {
			set, port = set+1, p.UDP.DestinationPort
		}
		if p.SCTP != nil {
			set, port = set+1, p.SCTP.DestinationPort
		}
		if p.DestinationNamedPort != "" {
			return errors.New("destinationNamedPort is not in the standard channel")
		}
		// Each protocol struct has minProperties 1: destinationPort is
		// required in practice, and it holds exactly one of its fields.
		if set != 1 || port == nil {
			return fmt.Errorf("protocol %+v", p)
		}
		switch {
		case port.Range != nil:
			r := port.Range
			if port.Number != 0 || r.Start < 1 || r.End > 65535 || r.Start >= r.End {
				return fmt.Errorf("port %+v", port)
			}
		case port.Number < 1 || port.Number > 65535:
			return fmt.Errorf("port %+v", port)
		}
	}
	return nil
}

func validCNPPeer(ns *metav1.LabelSelector, pods *npav1beta1.NamespacedPod, networks []npav1beta1.CIDR) error {
	set := 0
	for _, present := range []bool{ns != nil, pods != nil, len(networks) > 0} {
		if present {
			set++
		}
	}
	if set != 1 {
		return errors.New("peer must set exactly one field")
	}
	switch {
	case ns != nil:
		return validSelector(ns)
	case pods != nil:
		return validNamespacedPod(pods)
	}
	if len(networks) > maxCNPNetworks {
		return errors.New("more than 25 networks")
	}
	for i, n := range networks {
		pfx, err := netip.ParsePrefix(string(n))
		// listType=set: no duplicates; the CEL rule wants the masked form.
		if err != nil || pfx != pfx.Masked() || len(n) > maxCIDRLength || slices.Contains(networks[:i], n) {
			return fmt.Errorf("network %q", n)
		}
	}
	return nil
}
