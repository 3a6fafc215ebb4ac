package differential

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/tierguard/tierguard/internal/evaluate"
)

// cluster is one snapshot as a user would write it: nothing in it has
// been defaulted by an API server. Each side of the comparison gets it in
// the form it expects (see tierguardOf and newReference).
type cluster struct {
	Namespaces []namespace `json:"namespaces"`
	Pods       []pod       `json:"pods"`
	// External are addresses outside the pod network, which only ipBlock
	// and networks peers can match.
	External        []string                          `json:"external,omitempty"`
	Policies        []networkingv1.NetworkPolicy      `json:"policies,omitempty"`
	ClusterPolicies []npav1beta1.ClusterNetworkPolicy `json:"clusterNetworkPolicies,omitempty"`
}

type namespace struct {
	Name string `json:"name"`
	// Labels never include kubernetes.io/metadata.name; the API server
	// adds it, and so does each side of the comparison.
	Labels map[string]string `json:"labels,omitempty"`
}

type pod struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	IP        string            `json:"ip"`
	Ports     []containerPort   `json:"ports,omitempty"`
}

type containerPort struct {
	Name string `json:"name"`
	// Protocol is left empty as often as not: the API server defaults it
	// to TCP.
	Protocol corev1.Protocol `json:"protocol,omitempty"`
	Port     int32           `json:"port"`
}

// query is one connection: from and to are addresses, of pods or of
// External.
type query struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Protocol corev1.Protocol `json:"protocol"`
	Port     int32           `json:"port"`
}

func (q query) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", q.From, q.To, q.Protocol, q.Port)
}

// verdict is what both engines are compared on: the connection as a
// whole, and each direction on its own (egress of the source's policies,
// ingress of the destination's), so that a wrong direction is caught even
// when the other one denies anyway.
type verdict struct {
	Allowed bool `json:"allowed"`
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
}

func (v verdict) String() string {
	return fmt.Sprintf("allowed=%t (ingress=%t egress=%t)", v.Allowed, v.Ingress, v.Egress)
}

// podByIP finds the pod behind an address.
func (c *cluster) podByIP(ip string) (pod, bool) {
	for _, p := range c.Pods {
		if p.IP == ip {
			return p, true
		}
	}
	return pod{}, false
}

// describe names an address the way a person reads a report.
func (c *cluster) describe(ip string) string {
	if p, ok := c.podByIP(ip); ok {
		return fmt.Sprintf("pod %s/%s (%s)", p.Namespace, p.Name, ip)
	}
	return "address " + ip
}

// tierguard is internal/evaluate loaded with one cluster.
type tierguard struct {
	e         *evaluate.Evaluator
	endpoints map[string]evaluate.Endpoint
}

// tierguardOf gives internal/evaluate the cluster as written: it must do
// the API server's defaulting itself.
func tierguardOf(c *cluster) (*tierguard, error) {
	in := evaluate.Cluster{Policies: c.Policies, ClusterNetworkPolicies: c.ClusterPolicies}
	for _, ns := range c.Namespaces {
		in.Namespaces = append(in.Namespaces, evaluate.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	t := &tierguard{endpoints: make(map[string]evaluate.Endpoint, len(c.Pods)+len(c.External))}
	for _, p := range c.Pods {
		ep := evaluate.Pod{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, IP: p.IP}
		for _, cp := range p.Ports {
			ep.NamedPorts = append(ep.NamedPorts, evaluate.NamedPort{Name: cp.Name, Protocol: cp.Protocol, Port: cp.Port})
		}
		in.Pods = append(in.Pods, ep)
		t.endpoints[p.IP] = evaluate.PodEndpoint(ep)
	}
	for _, ip := range c.External {
		t.endpoints[ip] = evaluate.IPEndpoint(ip)
	}
	t.e = evaluate.New(in)
	if err := t.e.Err(); err != nil {
		return nil, fmt.Errorf("internal/evaluate refused the cluster: %w", err)
	}
	return t, nil
}

func (t *tierguard) decide(q query) (verdict, string, error) {
	from, ok := t.endpoints[q.From]
	if !ok {
		return verdict{}, "", fmt.Errorf("no endpoint %s", q.From)
	}
	to, ok := t.endpoints[q.To]
	if !ok {
		return verdict{}, "", fmt.Errorf("no endpoint %s", q.To)
	}
	v := t.e.Allowed(from, to, evaluate.Port{Protocol: q.Protocol, Port: q.Port})
	return verdict{Allowed: v.Allowed, Ingress: v.IngressAllowed, Egress: v.EgressAllowed}, v.Reason, nil
}

// sameFamily reports whether a packet between the two addresses can exist.
func sameFamily(a, b string) bool {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	return errX == nil && errY == nil && x.Is4() == y.Is4()
}
