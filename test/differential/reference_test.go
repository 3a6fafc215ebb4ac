package differential

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/kube-network-policies/pkg/api"
	"sigs.k8s.io/kube-network-policies/pkg/network"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
	cnpplugin "sigs.k8s.io/kube-network-policies/plugins/npa-v1alpha2"
	npav1alpha2 "sigs.k8s.io/network-policy-api/apis/v1alpha2"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	cnplisters "sigs.k8s.io/network-policy-api/pkg/client/listers/apis/v1alpha2"
)

// reference is kube-network-policies' engine, wired as its npa-v1alpha2
// binary wires it (cmd/kube-network-policies/npa-v1alpha2/main.go):
// Admin-tier ClusterNetworkPolicies, then NetworkPolicies, then
// Baseline-tier ClusterNetworkPolicies. Its informers are never started:
// their indexers are filled in memory, so no API server is involved.
type reference struct {
	engine     *networkpolicy.PolicyEngine
	evaluators []api.PolicyEvaluator
	pods       podsByIP
}

// referenceSourcePort is the packets' source port; no policy looks at it.
const referenceSourcePort = 40000

// podsByIP is the engine's view of pods, as its podinfo provider builds it
// from informers.
type podsByIP map[string]*api.PodInfo

func (m podsByIP) GetPodInfoByIP(ip string) (*api.PodInfo, bool) {
	p, ok := m[ip]
	return p, ok
}

// referenceOption changes how the engine is wired, to test whether a
// known difference explains a disagreement (see known_test.go).
type referenceOption int

const (
	// isolationPerDirection consults the NetworkPolicy evaluator only for
	// pods that a NetworkPolicy isolates in the direction asked about.
	isolationPerDirection referenceOption = iota + 1
)

func newReference(c *cluster, opts ...referenceOption) (*reference, error) {
	nsLabels := make(map[string]map[string]string, len(c.Namespaces))
	for _, ns := range c.Namespaces {
		nsLabels[ns.Name] = withNameLabel(ns.Name, ns.Labels)
	}
	pods := make(podsByIP, len(c.Pods))
	for _, p := range c.Pods {
		ls, ok := nsLabels[p.Namespace]
		if !ok {
			ls = withNameLabel(p.Namespace, nil)
		}
		info := &api.PodInfo{
			Name:      p.Name,
			Labels:    p.Labels,
			Namespace: &api.Namespace{Name: p.Namespace, Labels: ls},
			Node:      &api.Node{Name: "node"},
		}
		for _, cp := range p.Ports {
			info.ContainerPorts = append(info.ContainerPorts, &api.ContainerPort{
				Name: cp.Name, Port: cp.Port, Protocol: string(defaultProtocol(cp.Protocol)),
			})
		}
		pods[p.IP] = info
	}

	npInformer := newInformer(&networkingv1.NetworkPolicy{})
	for i := range c.Policies {
		np, err := defaultedPolicy(&c.Policies[i])
		if err != nil {
			return nil, err
		}
		if err := npInformer.GetIndexer().Add(np); err != nil {
			return nil, err
		}
	}
	var standard api.PolicyEvaluator = networkpolicy.NewStandardNetworkPolicy("node",
		namespaceInformer{newInformer(&corev1.Namespace{})},
		podInformer{newInformer(&corev1.Pod{})},
		npInformerOf{npInformer})
	if slices.Contains(opts, isolationPerDirection) {
		standard = perDirection{PolicyEvaluator: standard, policies: npInformerOf{npInformer}.Lister()}
	}
	cnpInformer := newInformer(&npav1alpha2.ClusterNetworkPolicy{})
	for i := range c.ClusterPolicies {
		cnp, err := toV1alpha2(&c.ClusterPolicies[i])
		if err != nil {
			return nil, err
		}
		if err := cnpInformer.GetIndexer().Add(cnp); err != nil {
			return nil, err
		}
	}
	nodes := corelisters.NewNodeLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}))
	evaluators := []api.PolicyEvaluator{
		cnpplugin.NewClusterNetworkPolicy(npav1alpha2.AdminTier, cnpInformerOf{cnpInformer}, nil, nodes),
		standard,
		cnpplugin.NewClusterNetworkPolicy(npav1alpha2.BaselineTier, cnpInformerOf{cnpInformer}, nil, nodes),
	}
	return &reference{engine: networkpolicy.NewPolicyEngine(pods, evaluators), evaluators: evaluators, pods: pods}, nil
}

// decide asks the engine about one packet. EvaluatePacket is the entry
// point the dataplane calls; the directions are then replayed through the
// same evaluators, in the engine's order, to compare them one by one and
// to tell which evaluator decided each.
func (r *reference) decide(q query) (verdict, deciders, error) {
	ctx := context.Background()
	p := &network.Packet{
		Family:  corev1.IPv4Protocol,
		SrcIP:   net.ParseIP(q.From),
		DstIP:   net.ParseIP(q.To),
		Proto:   defaultProtocol(q.Protocol),
		SrcPort: referenceSourcePort,
		DstPort: int(q.Port),
	}
	if p.SrcIP.To4() == nil {
		p.Family = corev1.IPv6Protocol
	}
	allowed, err := r.engine.EvaluatePacket(ctx, p)
	if err != nil {
		return verdict{}, deciders{}, err
	}
	src, dst := r.pods[q.From], r.pods[q.To]
	v := verdict{Allowed: allowed}
	var by deciders
	if v.Egress, by.egress, err = r.direction(ctx, p, src, dst, api.PolicyEvaluator.EvaluateEgress); err != nil {
		return verdict{}, by, err
	}
	if v.Ingress, by.ingress, err = r.direction(ctx, p, src, dst, api.PolicyEvaluator.EvaluateIngress); err != nil {
		return verdict{}, by, err
	}
	if v.Allowed != (v.Ingress && v.Egress) {
		return v, by, fmt.Errorf("the engine's packet verdict %t is not its directions' (%s): the replay no longer matches PolicyEngine", allowed, v)
	}
	return v, by, nil
}

// deciders name the evaluator that decided each direction, or
// noDecider when all of them passed.
type deciders struct{ ingress, egress string }

const noDecider = "none (default allow)"

type evaluateFunc func(api.PolicyEvaluator, context.Context, *network.Packet, *api.PodInfo, *api.PodInfo) (api.Verdict, error)

// direction is PolicyEngine.runEgressPipeline / runIngressPipeline: the
// first evaluator that does not say Next decides; all Next is accept.
func (r *reference) direction(ctx context.Context, p *network.Packet, src, dst *api.PodInfo, eval evaluateFunc) (bool, string, error) {
	for _, ev := range r.evaluators {
		v, err := eval(ev, ctx, p, src, dst)
		if err != nil {
			return false, "", err
		}
		if v != api.VerdictNext {
			return v == api.VerdictAccept, ev.Name(), nil
		}
	}
	return true, noDecider, nil
}

// perDirection wraps the engine's NetworkPolicy evaluator so that it
// passes (Next) in a direction in which no NetworkPolicy isolates the pod,
// instead of accepting: the per-direction isolation of the NetworkPolicy
// API, under which a pod selected only by Ingress policies still reaches
// the Baseline tier for its egress.
type perDirection struct {
	api.PolicyEvaluator
	policies networkinglisters.NetworkPolicyLister
}

func (w perDirection) EvaluateIngress(ctx context.Context, p *network.Packet, src, dst *api.PodInfo) (api.Verdict, error) {
	if !w.isolated(dst, networkingv1.PolicyTypeIngress) {
		return api.VerdictNext, nil
	}
	return w.PolicyEvaluator.EvaluateIngress(ctx, p, src, dst)
}

func (w perDirection) EvaluateEgress(ctx context.Context, p *network.Packet, src, dst *api.PodInfo) (api.Verdict, error) {
	if !w.isolated(src, networkingv1.PolicyTypeEgress) {
		return api.VerdictNext, nil
	}
	return w.PolicyEvaluator.EvaluateEgress(ctx, p, src, dst)
}

// isolated: some policy of the pod's namespace selects it and has the
// direction among its (defaulted) policyTypes.
func (w perDirection) isolated(pod *api.PodInfo, dir networkingv1.PolicyType) bool {
	if pod == nil {
		return false
	}
	nps, err := w.policies.NetworkPolicies(pod.Namespace.Name).List(labels.Everything())
	if err != nil {
		return false
	}
	for _, np := range nps {
		if slices.Contains(np.Spec.PolicyTypes, dir) && networkpolicy.MatchesSelector(&np.Spec.PodSelector, pod.Labels) {
			return true
		}
	}
	return false
}

// defaultedPolicy is the policy as the API server stores it: policyTypes
// and port protocols defaulted (SetDefaults_NetworkPolicySpec,
// SetDefaults_NetworkPolicyPort), empty lists dropped by the JSON round
// trip. The engine relies on both: it reads only spec.policyTypes and
// dereferences every port's protocol.
func defaultedPolicy(in *networkingv1.NetworkPolicy) (*networkingv1.NetworkPolicy, error) {
	np := in.DeepCopy()
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	defaultPorts := func(ports []networkingv1.NetworkPolicyPort) {
		for i := range ports {
			if ports[i].Protocol == nil {
				tcp := corev1.ProtocolTCP
				ports[i].Protocol = &tcp
			}
		}
	}
	for i := range np.Spec.Ingress {
		defaultPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultPorts(np.Spec.Egress[i].Ports)
	}
	out := &networkingv1.NetworkPolicy{}
	if err := roundTrip(np, out); err != nil {
		return nil, fmt.Errorf("policy %s/%s: %w", in.Namespace, in.Name, err)
	}
	return out, nil
}

// toV1alpha2 converts a ClusterNetworkPolicy to the version the engine
// reads. In network-policy-api v0.3.0 both versions have the same schema
// (v1beta1 is the storage version), so the API server's conversion is the
// identity on the fields and a JSON round trip is that conversion.
func toV1alpha2(in *npav1beta1.ClusterNetworkPolicy) (*npav1alpha2.ClusterNetworkPolicy, error) {
	out := &npav1alpha2.ClusterNetworkPolicy{}
	if err := roundTrip(in, out); err != nil {
		return nil, fmt.Errorf("cluster network policy %s: %w", in.Name, err)
	}
	return out, nil
}

func roundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func withNameLabel(name string, labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[corev1.LabelMetadataName] = name
	return out
}

func defaultProtocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// newInformer makes an informer that is never started: the engine only
// reads its indexer (through listers) and registers event handlers on it.
func newInformer(example runtime.Object) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(&cache.ListWatch{}, example, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// The engine's constructors take typed informers; these give them the
// unstarted informers above, with listers over their indexers.
type (
	namespaceInformer struct{ cache.SharedIndexInformer }
	podInformer       struct{ cache.SharedIndexInformer }
	npInformerOf      struct{ cache.SharedIndexInformer }
	cnpInformerOf     struct{ cache.SharedIndexInformer }
)

func (i namespaceInformer) Informer() cache.SharedIndexInformer { return i.SharedIndexInformer }
func (i namespaceInformer) Lister() corelisters.NamespaceLister {
	return corelisters.NewNamespaceLister(i.GetIndexer())
}

func (i podInformer) Informer() cache.SharedIndexInformer { return i.SharedIndexInformer }
func (i podInformer) Lister() corelisters.PodLister       { return corelisters.NewPodLister(i.GetIndexer()) }

func (i npInformerOf) Informer() cache.SharedIndexInformer { return i.SharedIndexInformer }
func (i npInformerOf) Lister() networkinglisters.NetworkPolicyLister {
	return networkinglisters.NewNetworkPolicyLister(i.GetIndexer())
}

func (i cnpInformerOf) Informer() cache.SharedIndexInformer { return i.SharedIndexInformer }
func (i cnpInformerOf) Lister() cnplisters.ClusterNetworkPolicyLister {
	return cnplisters.NewClusterNetworkPolicyLister(i.GetIndexer())
}
