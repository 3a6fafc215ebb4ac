// Package evaluate answers "may this traffic flow?" for a set of
// networking/v1 NetworkPolicies, without talking to a cluster.
//
// Tierguard generates NetworkPolicies to isolate environment tiers; this
// package is the independent oracle used to check that the generated
// objects mean what the tier model intends. It therefore follows the
// upstream semantics (kubernetes.io "Network Policies" concept page and the
// networking/v1 API reference) rather than any CNI's extensions:
//
//   - A policy selects pods of its own namespace through spec.podSelector.
//   - An empty spec.policyTypes means Ingress, plus Egress when spec.egress
//     has at least one rule.
//   - A pod is isolated in a direction when at least one policy selecting it
//     has that policy type; a non-isolated direction allows everything.
//   - Allows are additive: traffic from A to B flows when B's ingress allows
//     it and A's egress allows it.
//
// Two levels of question are supported. Allowed works on concrete pods and
// is exact. NamespaceAllowed and NamespacePorts work when the pods are not
// known, treat every namespace as able to hold pods with any labels, and
// report whether their answer is exact or an over-approximation.
//
// Traffic to and from the node and hostNetwork pods is outside the
// NetworkPolicy model and outside this package.
package evaluate

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// Namespace is the part of a namespace that NetworkPolicy peers can observe.
type Namespace struct {
	// Name is what podSelector-only peers and pods refer to.
	Name string
	// Labels are what namespaceSelector peers see; the API server's
	// kubernetes.io/metadata.name label is added if missing.
	Labels map[string]string
}

// NamedPort is a container port that carries a name, so that a policy
// naming the port can be resolved against the pod that declares it.
type NamedPort struct {
	// Name is what a NetworkPolicyPort refers to instead of a number.
	Name string
	// Protocol defaults to TCP when empty, as it does for container ports;
	// a policy port only resolves against a name with its own protocol.
	Protocol corev1.Protocol
	// Port is the number the name resolves to on this pod only.
	Port int32
}

// Pod is the part of a pod that NetworkPolicy selection and peers observe.
type Pod struct {
	// Namespace scopes which policies can select the pod.
	Namespace string
	// Name identifies the pod in reasons and LookupPod.
	Name string
	// Labels are what podSelectors see.
	Labels map[string]string
	// IP is used only by ipBlock peers; an empty or unparsable IP is never
	// inside any ipBlock.
	IP string
	// NamedPorts resolve named policy ports when this pod is the
	// destination.
	NamedPorts []NamedPort
}

// Endpoint is one end of a connection: a pod, or an address outside the
// pod network that only ipBlock peers can match.
type Endpoint struct {
	// pod is nil for an external address; the fields are unexported so
	// that an Endpoint can only be built as one or the other.
	pod *Pod
	ip  string
}

// PodEndpoint makes an endpoint of p. The pod need not appear in the
// Cluster given to New, which lets callers ask about pods that do not
// exist yet.
func PodEndpoint(p Pod) Endpoint {
	return Endpoint{pod: &p, ip: p.IP}
}

// IPEndpoint makes an endpoint of an address that is not a pod. Policies
// never isolate such an endpoint, and only ipBlock peers can match it.
func IPEndpoint(ip string) Endpoint {
	return Endpoint{ip: ip}
}

// Pod returns the pod behind e, if e is a pod.
func (e Endpoint) Pod() (Pod, bool) {
	if e.pod == nil {
		return Pod{}, false
	}
	return *e.pod, true
}

// String names the endpoint the way verdict reasons mention it.
func (e Endpoint) String() string {
	if e.pod != nil {
		return "pod " + e.pod.Namespace + "/" + e.pod.Name
	}
	return "address " + e.ip
}

// addr parses the endpoint's IP; ok is false when there is none, so that a
// pod whose IP is unknown never matches an ipBlock.
func (e Endpoint) addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(e.ip)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Port is the destination port of a connection.
type Port struct {
	// Protocol defaults to TCP when empty, matching NetworkPolicyPort.
	Protocol corev1.Protocol
	// Port is the destination port number, 1-65535.
	Port int32
}

// String renders the port as PROTOCOL/NUMBER.
func (p Port) String() string {
	return fmt.Sprintf("%s/%d", p.normalize().Protocol, p.Port)
}

func (p Port) normalize() Port {
	if p.Protocol == "" {
		p.Protocol = corev1.ProtocolTCP
	}
	return p
}

// Cluster is the input snapshot. Namespaces that pods or policies refer to
// but that are missing here are treated as existing with no labels beyond
// kubernetes.io/metadata.name.
type Cluster struct {
	// Namespaces supply the labels namespaceSelectors match.
	Namespaces []Namespace
	// Pods are only needed for LookupPod; queries take endpoints directly
	// so that hypothetical pods can be asked about too.
	Pods []Pod
	// Policies need not have been defaulted by an API server.
	Policies []networkingv1.NetworkPolicy
	// ClusterNetworkPolicies are evaluated around Policies: the Admin tier
	// before them, the Baseline tier after (see cnp.go).
	ClusterNetworkPolicies []npav1beta1.ClusterNetworkPolicy
	// PodCIDRs, when set, are the ranges pod IPs come from. Only the
	// namespace-level analysis uses them: it cannot know a pod's IP, and
	// without them must assume an ipBlock peer could contain one.
	PodCIDRs []string
}

// Evaluator answers reachability questions about one Cluster snapshot.
// It is immutable after New and safe for concurrent use.
type Evaluator struct {
	nsLabels map[string]labels.Set
	pods     map[string]Pod
	// policies holds the valid policies of each namespace sorted by key,
	// so that verdicts list policies deterministically.
	policies map[string][]*policy
	// admin and baseline are the ClusterNetworkPolicies of each tier, in
	// the order they are evaluated.
	admin, baseline []*clusterPolicy
	podCIDRs        []netip.Prefix
	err             error
}

// New compiles the snapshot once so that each query only matches labels.
// Policies the API server would reject (bad selectors, CIDRs, ports or
// policy types) cannot exist in a real cluster, so they are left out of
// every answer and reported by Err instead of guessed at.
func New(c Cluster) *Evaluator {
	e := &Evaluator{
		nsLabels: make(map[string]labels.Set, len(c.Namespaces)),
		pods:     make(map[string]Pod, len(c.Pods)),
		policies: make(map[string][]*policy),
	}
	var errs []error
	for _, ns := range c.Namespaces {
		set := make(labels.Set, len(ns.Labels)+1)
		for k, v := range ns.Labels {
			set[k] = v
		}
		// The API server stamps this label on every namespace and does
		// not let users change it, and policies commonly select on it.
		set[corev1.LabelMetadataName] = ns.Name
		e.nsLabels[ns.Name] = set
	}
	for _, p := range c.Pods {
		e.pods[p.Namespace+"/"+p.Name] = p
	}
	for i := range c.Policies {
		np := &c.Policies[i]
		p, err := compilePolicy(np)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy %s/%s: %w", np.Namespace, np.Name, err))
			continue
		}
		e.policies[p.ns] = append(e.policies[p.ns], p)
	}
	for i := range c.ClusterNetworkPolicies {
		cnp := &c.ClusterNetworkPolicies[i]
		p, err := compileClusterPolicy(cnp)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster network policy %s: %w", cnp.Name, err))
			continue
		}
		if p.baseline {
			e.baseline = append(e.baseline, p)
		} else {
			e.admin = append(e.admin, p)
		}
	}
	sortClusterPolicies(e.admin)
	sortClusterPolicies(e.baseline)
	for ns := range e.policies {
		ps := e.policies[ns]
		sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	}
	for i, s := range c.PodCIDRs {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("podCIDRs[%d] %q: %w", i, s, err))
			continue
		}
		e.podCIDRs = append(e.podCIDRs, pfx.Masked())
	}
	e.err = errors.Join(errs...)
	return e
}

// Err reports every input New could not use, so a caller can refuse to
// trust answers computed without them. It is nil when everything compiled.
func (e *Evaluator) Err() error {
	return e.err
}

// LookupPod finds a pod of the snapshot, so callers can ask about pods by
// name without keeping their own index.
func (e *Evaluator) LookupPod(namespace, name string) (Endpoint, bool) {
	p, ok := e.pods[namespace+"/"+name]
	if !ok {
		return Endpoint{}, false
	}
	return PodEndpoint(p), true
}

// namespaceLabels returns the labels a namespaceSelector sees for ns.
func (e *Evaluator) namespaceLabels(ns string) labels.Set {
	if set, ok := e.nsLabels[ns]; ok {
		return set
	}
	return labels.Set{corev1.LabelMetadataName: ns}
}

// Verdict explains the answer for one concrete connection.
type Verdict struct {
	// Allowed is IngressAllowed && EgressAllowed.
	Allowed bool
	// IngressAllowed reports whether the destination side admits the
	// connection: it is not ingress-isolated, or a rule allows it.
	IngressAllowed bool
	// EgressAllowed reports the same for the source side.
	EgressAllowed bool
	// IngressIsolated is true when the destination is a pod selected by at
	// least one policy with the Ingress type.
	IngressIsolated bool
	// EgressIsolated is true when the source is a pod selected by at least
	// one policy with the Egress type.
	EgressIsolated bool
	// IngressPolicies are the "namespace/name" of the policies with an
	// Ingress rule allowing the connection, sorted. Empty when the
	// destination is not isolated, because then no rule is needed.
	IngressPolicies []string
	// EgressPolicies are the same for Egress rules.
	EgressPolicies []string
	// IngressClusterPolicy and EgressClusterPolicy name the
	// ClusterNetworkPolicy rule ("policy/rule") that decided the direction,
	// or passed it to the NetworkPolicies; empty when none matched.
	IngressClusterPolicy string
	EgressClusterPolicy  string
	// Reason is a one-line human explanation.
	Reason string
}

// direction picks which half of a policy applies.
type direction int

const (
	ingress direction = iota
	egress
)

// String names the direction as policyTypes spells it.
func (d direction) String() string {
	if d == ingress {
		return "Ingress"
	}
	return "Egress"
}

// Allowed decides whether from may open a connection to port on to.
func (e *Evaluator) Allowed(from, to Endpoint, port Port) Verdict {
	port = port.normalize()
	ing := e.evalSide(ingress, to, from, to, port)
	eg := e.evalSide(egress, from, to, to, port)
	v := Verdict{
		IngressAllowed:       ing.allowed(),
		EgressAllowed:        eg.allowed(),
		IngressIsolated:      len(ing.isolatedBy) > 0,
		EgressIsolated:       len(eg.isolatedBy) > 0,
		IngressPolicies:      ing.allowedBy,
		EgressPolicies:       eg.allowedBy,
		IngressClusterPolicy: cmp.Or(ing.admin.by, ing.baseline.by),
		EgressClusterPolicy:  cmp.Or(eg.admin.by, eg.baseline.by),
	}
	v.Allowed = v.IngressAllowed && v.EgressAllowed
	ingText := ing.describe(ingress, to, from, port)
	egText := eg.describe(egress, from, to, port)
	switch {
	case v.Allowed:
		v.Reason = "allowed: " + ingText + "; " + egText
	case !v.IngressAllowed && !v.EgressAllowed:
		v.Reason = "denied: " + ingText + "; " + egText
	case !v.IngressAllowed:
		v.Reason = "denied: " + ingText
	default:
		v.Reason = "denied: " + egText
	}
	return v
}

// sideResult is one direction's half of a Verdict.
type sideResult struct {
	isolatedBy []string
	allowedBy  []string
	// admin and baseline are the ClusterNetworkPolicy tiers' verdicts.
	admin, baseline cnpVerdict
}

// allowed applies the tiers in order: an Admin decision, then the
// NetworkPolicies when any isolates the pod, then a Baseline decision,
// then the default, allow.
func (s sideResult) allowed() bool {
	switch {
	case s.admin.decided:
		return s.admin.accept
	case len(s.isolatedBy) > 0:
		return len(s.allowedBy) > 0
	case s.baseline.decided:
		return s.baseline.accept
	}
	return true
}

func (s sideResult) describe(dir direction, subject, peer Endpoint, port Port) string {
	if subject.pod == nil {
		return fmt.Sprintf("%s is not a pod, so no %s policy applies", subject, dir)
	}
	if s.admin.decided {
		return fmt.Sprintf("%s %s by the Admin ClusterNetworkPolicy rule %s", dir, map[bool]string{true: "accepted", false: "denied"}[s.admin.accept], s.admin.by)
	}
	if len(s.isolatedBy) == 0 && s.baseline.decided {
		return fmt.Sprintf("%s %s by the Baseline ClusterNetworkPolicy rule %s", dir, map[bool]string{true: "accepted", false: "denied"}[s.baseline.accept], s.baseline.by)
	}
	if len(s.isolatedBy) == 0 {
		return fmt.Sprintf("no %s policy selects %s", dir, subject)
	}
	if len(s.allowedBy) > 0 {
		return fmt.Sprintf("%s allowed by %s", dir, strings.Join(s.allowedBy, ", "))
	}
	return fmt.Sprintf("%s is isolated for %s by %s and no rule allows %s on %s",
		subject, dir, strings.Join(s.isolatedBy, ", "), peer, port)
}

// evalSide applies the policies that select subject in direction dir.
// dst is always the connection's destination because ports, named ones
// included, belong to the destination in both directions.
func (e *Evaluator) evalSide(dir direction, subject, peer, dst Endpoint, port Port) sideResult {
	var r sideResult
	if subject.pod == nil {
		return r
	}
	r.admin = e.evalClusterTier(e.admin, dir, subject, peer, dst, port)
	podLabels := labels.Set(subject.pod.Labels)
	for _, p := range e.policies[subject.pod.Namespace] {
		if !p.has(dir) || !p.pods.sel.Matches(podLabels) {
			continue
		}
		r.isolatedBy = append(r.isolatedBy, p.key)
		for _, rl := range p.rules(dir) {
			if rl.matchesPort(dst, port) && e.matchesPeers(p.ns, rl, peer) {
				r.allowedBy = append(r.allowedBy, p.key)
				break
			}
		}
	}
	if !r.admin.decided && len(r.isolatedBy) == 0 {
		r.baseline = e.evalClusterTier(e.baseline, dir, subject, peer, dst, port)
	}
	return r
}

// matchesPeers reports whether ep is among the rule's peers.
func (e *Evaluator) matchesPeers(policyNS string, r rule, ep Endpoint) bool {
	if len(r.peers) == 0 {
		return true
	}
	for _, pr := range r.peers {
		if e.matchesPeer(policyNS, pr, ep) {
			return true
		}
	}
	return false
}

func (e *Evaluator) matchesPeer(policyNS string, pr peer, ep Endpoint) bool {
	if pr.block != nil {
		a, ok := ep.addr()
		return ok && pr.block.contains(a)
	}
	if ep.pod == nil {
		// Only ipBlock can describe something that is not a pod.
		return false
	}
	if pr.namespaces == nil {
		// A podSelector on its own is scoped to the policy's namespace.
		if ep.pod.Namespace != policyNS {
			return false
		}
	} else if !pr.namespaces.sel.Matches(e.namespaceLabels(ep.pod.Namespace)) {
		return false
	}
	return pr.pods == nil || pr.pods.sel.Matches(labels.Set(ep.pod.Labels))
}
