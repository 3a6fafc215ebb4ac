package evaluate

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// policy is a NetworkPolicy with defaulting applied and selectors compiled.
type policy struct {
	key          string // "namespace/name"
	ns           string
	pods         *selector
	ingress      bool
	egress       bool
	ingressRules []rule
	egressRules  []rule
}

func (p *policy) has(dir direction) bool {
	if dir == ingress {
		return p.ingress
	}
	return p.egress
}

func (p *policy) rules(dir direction) []rule {
	if dir == ingress {
		return p.ingressRules
	}
	return p.egressRules
}

// rule is one ingress or egress rule; empty peers or ports mean "all".
type rule struct {
	peers []peer
	ports []portSpec
}

// peer keeps absent selectors nil, because absent and empty differ: an
// absent namespaceSelector means "the policy's namespace", an empty one
// means "every namespace".
type peer struct {
	pods       *selector
	namespaces *selector
	block      *ipBlock
}

// portSpec is a NetworkPolicyPort with the protocol defaulted.
type portSpec struct {
	proto corev1.Protocol
	// all is set when port is absent: every port of proto.
	all bool
	// name is set for a named port, resolved against the destination pod.
	name   string
	lo, hi int32
}

// String renders the port spec for messages.
func (ps portSpec) String() string {
	switch {
	case ps.all:
		return string(ps.proto) + "/all"
	case ps.name != "":
		return fmt.Sprintf("%s/%q", ps.proto, ps.name)
	case ps.lo == ps.hi:
		return fmt.Sprintf("%s/%d", ps.proto, ps.lo)
	default:
		return fmt.Sprintf("%s/%d-%d", ps.proto, ps.lo, ps.hi)
	}
}

// matchesPort reports whether the rule admits port on dst. Named ports are
// looked up on dst because that is the pod that listens on them.
func (r rule) matchesPort(dst Endpoint, port Port) bool {
	if len(r.ports) == 0 {
		return true
	}
	for _, ps := range r.ports {
		if ps.proto != port.Protocol {
			continue
		}
		switch {
		case ps.all:
			return true
		case ps.name != "":
			if dst.pod != nil && resolvesTo(dst.pod.NamedPorts, ps.name, ps.proto, port.Port) {
				return true
			}
		case ps.lo <= port.Port && port.Port <= ps.hi:
			return true
		}
	}
	return false
}

func resolvesTo(named []NamedPort, name string, proto corev1.Protocol, port int32) bool {
	for _, np := range named {
		p := np.Protocol
		if p == "" {
			p = corev1.ProtocolTCP
		}
		if np.Name == name && p == proto && np.Port == port {
			return true
		}
	}
	return false
}

// ipBlock is a CIDR minus its exceptions.
type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
	text   string
}

func (b *ipBlock) contains(a netip.Addr) bool {
	if !b.cidr.Contains(a) {
		return false
	}
	for _, x := range b.except {
		if x.Contains(a) {
			return false
		}
	}
	return true
}

// selector is a label selector compiled both for matching concrete label
// sets and, through lits, for the symbolic namespace-level analysis.
type selector struct {
	sel labels.Selector
	// lits is the conjunction of requirements; empty selects everything.
	lits []lit
	text string
}

func (s *selector) matchesAll() bool { return len(s.lits) == 0 }

func compileSelector(ls *metav1.LabelSelector) (*selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, err
	}
	reqs, _ := sel.Requirements()
	out := &selector{sel: sel, text: sel.String()}
	if out.text == "" {
		out.text = "{}"
	}
	for _, r := range reqs {
		set, err := requirementSet(r.Operator(), r.Values().List())
		if err != nil {
			return nil, fmt.Errorf("requirement %q: %w", r.String(), err)
		}
		out.lits = append(out.lits, lit{key: r.Key(), set: set})
	}
	return out, nil
}

// requirementSet translates one requirement into the set of values (and
// absence) of its key that satisfy it.
func requirementSet(op selection.Operator, values []string) (valueSet, error) {
	vals := sortedUnique(values)
	switch op {
	case selection.Equals, selection.DoubleEquals, selection.In:
		return valueSet{vals: vals}, nil
	case selection.NotEquals, selection.NotIn:
		// A missing key satisfies NotIn, as labels.Requirement.Matches does.
		return valueSet{absent: true, cofinite: true, vals: vals}, nil
	case selection.Exists:
		return valueSet{cofinite: true}, nil
	case selection.DoesNotExist:
		return valueSet{absent: true}, nil
	default:
		// Gt/Lt cannot come from a metav1.LabelSelector.
		return valueSet{}, fmt.Errorf("operator %q is not valid in a label selector", op)
	}
}

func compilePolicy(np *networkingv1.NetworkPolicy) (*policy, error) {
	if np.Namespace == "" {
		return nil, errors.New("metadata.namespace is empty; a policy only exists inside a namespace")
	}
	p := &policy{key: np.Namespace + "/" + np.Name, ns: np.Namespace}
	var errs []error
	var err error
	if p.pods, err = compileSelector(&np.Spec.PodSelector); err != nil {
		errs = append(errs, fmt.Errorf("spec.podSelector: %w", err))
	}
	if err := p.setTypes(np.Spec); err != nil {
		errs = append(errs, err)
	}
	for i, in := range np.Spec.Ingress {
		r, err := compileRule(fmt.Sprintf("spec.ingress[%d]", i), "from", in.From, in.Ports)
		if err != nil {
			errs = append(errs, err)
		}
		p.ingressRules = append(p.ingressRules, r)
	}
	for i, out := range np.Spec.Egress {
		r, err := compileRule(fmt.Sprintf("spec.egress[%d]", i), "to", out.To, out.Ports)
		if err != nil {
			errs = append(errs, err)
		}
		p.egressRules = append(p.egressRules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// setTypes applies the API server's policyTypes defaulting, because
// objects built in code or read from manifests may not have been defaulted.
func (p *policy) setTypes(spec networkingv1.NetworkPolicySpec) error {
	if len(spec.PolicyTypes) == 0 {
		p.ingress = true
		p.egress = len(spec.Egress) > 0
		return nil
	}
	if len(spec.PolicyTypes) > 2 {
		return fmt.Errorf("spec.policyTypes: %d entries, at most 2 allowed", len(spec.PolicyTypes))
	}
	for i, t := range spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.ingress = true
		case networkingv1.PolicyTypeEgress:
			p.egress = true
		default:
			return fmt.Errorf("spec.policyTypes[%d] %q: must be Ingress or Egress", i, t)
		}
	}
	return nil
}

func compileRule(path, peerField string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) (rule, error) {
	var r rule
	var errs []error
	for i := range peers {
		pr, err := compilePeer(&peers[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s[%d]: %w", path, peerField, i, err))
			continue
		}
		r.peers = append(r.peers, pr)
	}
	for i := range ports {
		ps, err := compilePort(&ports[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.ports[%d]: %w", path, i, err))
			continue
		}
		r.ports = append(r.ports, ps)
	}
	return r, errors.Join(errs...)
}

func compilePeer(np *networkingv1.NetworkPolicyPeer) (peer, error) {
	var pr peer
	var err error
	if np.IPBlock != nil {
		if np.PodSelector != nil || np.NamespaceSelector != nil {
			return pr, errors.New("ipBlock may not be combined with podSelector or namespaceSelector")
		}
		pr.block, err = compileIPBlock(np.IPBlock)
		if err != nil {
			return pr, fmt.Errorf("ipBlock: %w", err)
		}
		return pr, nil
	}
	if np.PodSelector == nil && np.NamespaceSelector == nil {
		return pr, errors.New("must specify a peer: podSelector, namespaceSelector or ipBlock")
	}
	if np.PodSelector != nil {
		if pr.pods, err = compileSelector(np.PodSelector); err != nil {
			return pr, fmt.Errorf("podSelector: %w", err)
		}
	}
	if np.NamespaceSelector != nil {
		if pr.namespaces, err = compileSelector(np.NamespaceSelector); err != nil {
			return pr, fmt.Errorf("namespaceSelector: %w", err)
		}
	}
	return pr, nil
}

func compileIPBlock(b *networkingv1.IPBlock) (*ipBlock, error) {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return nil, fmt.Errorf("cidr %q: %w", b.CIDR, err)
	}
	// The API server accepts host bits in legacy CIDR fields and ignores
	// them; masking keeps Contains and overlap checks consistent.
	out := &ipBlock{cidr: cidr.Masked(), text: b.CIDR}
	for i, s := range b.Except {
		x, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("except[%d] %q: %w", i, s, err)
		}
		x = x.Masked()
		if !out.cidr.Contains(x.Addr()) || x.Bits() <= out.cidr.Bits() {
			return nil, fmt.Errorf("except[%d] %q: must be a strict subset of cidr %q", i, s, b.CIDR)
		}
		out.except = append(out.except, x)
	}
	if len(b.Except) > 0 {
		out.text = fmt.Sprintf("%s except %s", b.CIDR, strings.Join(b.Except, ","))
	}
	return out, nil
}

func compilePort(np *networkingv1.NetworkPolicyPort) (portSpec, error) {
	ps := portSpec{proto: corev1.ProtocolTCP}
	if np.Protocol != nil {
		ps.proto = *np.Protocol
	}
	switch ps.proto {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	default:
		return ps, fmt.Errorf("protocol %q: must be TCP, UDP or SCTP", ps.proto)
	}
	switch {
	case np.Port == nil:
		if np.EndPort != nil {
			return ps, errors.New("endPort may not be set without port")
		}
		ps.all = true
	case np.Port.Type == intstr.String:
		if np.EndPort != nil {
			return ps, fmt.Errorf("endPort may not be set with named port %q", np.Port.StrVal)
		}
		if msgs := validation.IsValidPortName(np.Port.StrVal); len(msgs) > 0 {
			return ps, fmt.Errorf("port %q: %s", np.Port.StrVal, strings.Join(msgs, "; "))
		}
		ps.name = np.Port.StrVal
	default:
		ps.lo, ps.hi = np.Port.IntVal, np.Port.IntVal
		if msgs := validation.IsValidPortNum(int(ps.lo)); len(msgs) > 0 {
			return ps, fmt.Errorf("port %d: %s", ps.lo, strings.Join(msgs, "; "))
		}
		if np.EndPort != nil {
			ps.hi = *np.EndPort
			if msgs := validation.IsValidPortNum(int(ps.hi)); len(msgs) > 0 {
				return ps, fmt.Errorf("endPort %d: %s", ps.hi, strings.Join(msgs, "; "))
			}
			if ps.hi < ps.lo {
				return ps, fmt.Errorf("endPort %d: must be greater than or equal to port %d", ps.hi, ps.lo)
			}
		}
	}
	return ps, nil
}
