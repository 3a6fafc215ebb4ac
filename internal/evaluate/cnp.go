package evaluate

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// ClusterNetworkPolicies (policy.networking.k8s.io) are evaluated around
// the NetworkPolicies, per direction, in this order:
//
//  1. Admin tier, by priority (lower first; equal priorities by name, which
//     the API leaves to the implementation), each policy's rules in order:
//     the first rule that matches decides. Accept and Deny are final; Pass
//     ends the Admin tier.
//  2. NetworkPolicies: when any selects the pod in this direction, they
//     decide (as without ClusterNetworkPolicies).
//  3. Baseline tier, like the Admin tier; Pass ends it.
//  4. Otherwise the traffic is allowed.

// cnpAction is what a matching rule does.
type cnpAction int

const (
	cnpAccept cnpAction = iota
	cnpDeny
	cnpPass
)

// clusterPolicy is a ClusterNetworkPolicy with its selectors compiled.
type clusterPolicy struct {
	name     string
	baseline bool
	priority int32
	// subject: every pod of the namespaces, or the pods of pods.
	subjectNS   *selector
	subjectPods *selector
	ingress     []cnpRule
	egress      []cnpRule
}

type cnpRule struct {
	name      string
	action    cnpAction
	peers     []cnpPeer
	protocols []cnpProtocol
}

// cnpPeer selects pods (namespaces, optionally pods) or addresses.
type cnpPeer struct {
	namespaces *selector
	pods       *selector // with namespaces
	networks   []netip.Prefix
	// unmodelled peers (nodes, domain names) match no pod and no address
	// this package can tell apart.
	unmodelled bool
}

type cnpProtocol struct {
	proto  corev1.Protocol
	lo, hi int32
	named  string
}

func compileClusterPolicy(c *npav1beta1.ClusterNetworkPolicy) (*clusterPolicy, error) {
	p := &clusterPolicy{name: c.Name, baseline: c.Spec.Tier == npav1beta1.BaselineTier, priority: c.Spec.Priority}
	var err error
	switch s := c.Spec.Subject; {
	case s.Namespaces != nil:
		if p.subjectNS, err = compileSelector(s.Namespaces); err != nil {
			return nil, fmt.Errorf("subject.namespaces: %w", err)
		}
	case s.Pods != nil:
		if p.subjectNS, err = compileSelector(&s.Pods.NamespaceSelector); err != nil {
			return nil, fmt.Errorf("subject.pods.namespaceSelector: %w", err)
		}
		if p.subjectPods, err = compileSelector(&s.Pods.PodSelector); err != nil {
			return nil, fmt.Errorf("subject.pods.podSelector: %w", err)
		}
	default:
		return nil, fmt.Errorf("subject selects nothing")
	}
	for i, r := range c.Spec.Ingress {
		peers := make([]cnpPeer, 0, len(r.From))
		for j, pr := range r.From {
			cp, err := compileCNPPeer(pr.Namespaces, pr.Pods, nil, false)
			if err != nil {
				return nil, fmt.Errorf("ingress[%d].from[%d]: %w", i, j, err)
			}
			peers = append(peers, cp)
		}
		rule, err := compileCNPRule(r.Name, r.Action, peers, r.Protocols)
		if err != nil {
			return nil, fmt.Errorf("ingress[%d]: %w", i, err)
		}
		p.ingress = append(p.ingress, rule)
	}
	for i, r := range c.Spec.Egress {
		peers := make([]cnpPeer, 0, len(r.To))
		for j, pr := range r.To {
			cp, err := compileCNPPeer(pr.Namespaces, pr.Pods, pr.Networks, pr.Nodes != nil || len(pr.DomainNames) > 0)
			if err != nil {
				return nil, fmt.Errorf("egress[%d].to[%d]: %w", i, j, err)
			}
			peers = append(peers, cp)
		}
		rule, err := compileCNPRule(r.Name, r.Action, peers, r.Protocols)
		if err != nil {
			return nil, fmt.Errorf("egress[%d]: %w", i, err)
		}
		p.egress = append(p.egress, rule)
	}
	return p, nil
}

func compileCNPPeer(ns *metav1.LabelSelector, pods *npav1beta1.NamespacedPod, networks []npav1beta1.CIDR, unmodelled bool) (cnpPeer, error) {
	var (
		out cnpPeer
		err error
	)
	switch {
	case ns != nil:
		out.namespaces, err = compileSelector(ns)
	case pods != nil:
		if out.namespaces, err = compileSelector(&pods.NamespaceSelector); err == nil {
			out.pods, err = compileSelector(&pods.PodSelector)
		}
	case len(networks) > 0:
		for _, n := range networks {
			pfx, perr := netip.ParsePrefix(string(n))
			if perr != nil {
				return out, fmt.Errorf("network %q: %w", n, perr)
			}
			out.networks = append(out.networks, pfx.Masked())
		}
	default:
		out.unmodelled = unmodelled
		if !unmodelled {
			return out, fmt.Errorf("peer selects nothing")
		}
	}
	return out, err
}

func compileCNPRule(name string, action npav1beta1.ClusterNetworkPolicyRuleAction, peers []cnpPeer,
	protocols []npav1beta1.ClusterNetworkPolicyProtocol) (cnpRule, error) {
	r := cnpRule{name: name, peers: peers}
	switch action {
	case npav1beta1.ClusterNetworkPolicyRuleActionAccept:
		r.action = cnpAccept
	case npav1beta1.ClusterNetworkPolicyRuleActionDeny:
		r.action = cnpDeny
	case npav1beta1.ClusterNetworkPolicyRuleActionPass:
		r.action = cnpPass
	default:
		return r, fmt.Errorf("action %q", action)
	}
	for _, p := range protocols {
		var (
			proto corev1.Protocol
			port  *npav1beta1.Port
		)
		switch {
		case p.TCP != nil:
			proto, port = corev1.ProtocolTCP, p.TCP.DestinationPort
		case p.UDP != nil:
			proto, port = corev1.ProtocolUDP, p.UDP.DestinationPort
		case p.SCTP != nil:
			proto, port = corev1.ProtocolSCTP, p.SCTP.DestinationPort
		case p.DestinationNamedPort != "":
			r.protocols = append(r.protocols, cnpProtocol{named: p.DestinationNamedPort})
			continue
		default:
			return r, fmt.Errorf("protocol selects nothing")
		}
		cp := cnpProtocol{proto: proto, lo: 1, hi: 65535}
		switch {
		case port == nil:
		case port.Range != nil:
			cp.lo, cp.hi = port.Range.Start, port.Range.End
		default:
			cp.lo, cp.hi = port.Number, port.Number
		}
		r.protocols = append(r.protocols, cp)
	}
	return r, nil
}

// sortClusterPolicies orders policies as they are evaluated: by priority,
// then (where the API leaves the order open) by name.
func sortClusterPolicies(ps []*clusterPolicy) {
	slices.SortFunc(ps, func(a, b *clusterPolicy) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.name, b.name))
	})
}

// selects reports whether the policy's subject is the pod.
func (e *Evaluator) cnpSelects(p *clusterPolicy, pod *Pod) bool {
	if !p.subjectNS.sel.Matches(e.namespaceLabels(pod.Namespace)) {
		return false
	}
	return p.subjectPods == nil || p.subjectPods.sel.Matches(labels.Set(pod.Labels))
}

// cnpVerdict is what one tier of ClusterNetworkPolicies decided for one
// direction: decided is false when no rule matched or a rule passed.
type cnpVerdict struct {
	decided bool
	accept  bool
	by      string // "policy/rule"
}

// evalClusterTier applies the tier's policies that select subject.
func (e *Evaluator) evalClusterTier(tier []*clusterPolicy, dir direction, subject, peer, dst Endpoint, port Port) cnpVerdict {
	if subject.pod == nil {
		return cnpVerdict{}
	}
	for _, p := range tier {
		if !e.cnpSelects(p, subject.pod) {
			continue
		}
		rules := p.ingress
		if dir == egress {
			rules = p.egress
		}
		for _, r := range rules {
			if !r.matchesPort(dst, port) || !slices.ContainsFunc(r.peers, func(pr cnpPeer) bool { return e.cnpPeerMatches(pr, peer) }) {
				continue
			}
			by := p.name + "/" + r.name
			switch r.action {
			case cnpAccept:
				return cnpVerdict{decided: true, accept: true, by: by}
			case cnpDeny:
				return cnpVerdict{decided: true, by: by}
			default:
				return cnpVerdict{by: by} // Pass: the rest of the tier is skipped
			}
		}
	}
	return cnpVerdict{}
}

func (r cnpRule) matchesPort(dst Endpoint, port Port) bool {
	if len(r.protocols) == 0 {
		return true
	}
	for _, p := range r.protocols {
		if p.named != "" {
			if dst.pod != nil && resolvesTo(dst.pod.NamedPorts, p.named, port.Protocol, port.Port) {
				return true
			}
			continue
		}
		if p.proto == port.Protocol && p.lo <= port.Port && port.Port <= p.hi {
			return true
		}
	}
	return false
}

func (e *Evaluator) cnpPeerMatches(pr cnpPeer, ep Endpoint) bool {
	switch {
	case pr.unmodelled:
		return false
	case len(pr.networks) > 0:
		a, ok := ep.addr()
		return ok && slices.ContainsFunc(pr.networks, func(n netip.Prefix) bool { return n.Contains(a) })
	case ep.pod == nil:
		return false
	case !pr.namespaces.sel.Matches(e.namespaceLabels(ep.pod.Namespace)):
		return false
	}
	return pr.pods == nil || pr.pods.sel.Matches(labels.Set(ep.pod.Labels))
}
