package render

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

func cnpProfile() *segv1.SegmentationProfile {
	sel := func(env string) *segv1.LabelSelector {
		return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
	}
	return &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company", UID: "u1"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: sel("dev")}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: sel("prod")}, Isolation: segv1.IsolationNamespace},
		},
		Flows: []segv1.Flow{{From: "dev", To: "prod", Ports: []segv1.NetworkPolicyPort{
			{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))},
			{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(8000)), EndPort: ptr.To(int32(8100))},
		}}},
		SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{"ingress"}},
	}}
}

func cnpPlan(t *testing.T, p *segv1.SegmentationProfile) *Plan {
	t.Helper()
	plan, err := Compute(Input{Profile: p, Namespaces: []Namespace{
		{Name: "dev-a", Labels: map[string]string{"env": "dev"}},
		{Name: "prod-a", Labels: map[string]string{"env": "prod"}},
		{Name: "prod-b", Labels: map[string]string{"env": "prod"}},
		{Name: "ingress"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

type ruleView struct {
	name   string
	action npav1beta1.ClusterNetworkPolicyRuleAction
}

func ingressView(c npav1beta1.ClusterNetworkPolicy) []ruleView {
	var out []ruleView
	for _, r := range c.Spec.Ingress {
		out = append(out, ruleView{r.Name, r.Action})
	}
	return out
}

func TestClusterNetworkPolicies(t *testing.T) {
	p := cnpProfile()
	cnps, err := ClusterNetworkPolicies(p, cnpPlan(t, p), DefaultCNPPriority)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]npav1beta1.ClusterNetworkPolicy{}
	for _, c := range cnps {
		names = append(names, c.Name)
		byName[c.Name] = c
	}
	want := []string{"tierguard.company.dev", "tierguard.company.prod", "tierguard.company.prod.prod-a", "tierguard.company.prod.prod-b"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}

	dev := byName["tierguard.company.dev"]
	if dev.Spec.Tier != npav1beta1.AdminTier || dev.Spec.Priority != DefaultCNPPriority+1 {
		t.Errorf("dev: tier %s priority %d", dev.Spec.Tier, dev.Spec.Priority)
	}
	if got := dev.Spec.Subject.Namespaces.MatchLabels; got[DefaultTierLabelKey] != "dev" || got[ProfileLabel] != "company" || len(got) != 2 {
		t.Errorf("dev subject %v: must select by the protected tier and profile labels only", got)
	}
	if got, want := ingressView(dev), []ruleView{{"pass-same-tier", "Pass"}, {"accept-shared", "Accept"}, {"deny-other-namespaces", "Deny"}}; !slices.Equal(got, want) {
		t.Errorf("dev ingress %v, want %v", got, want)
	}

	prod := byName["tierguard.company.prod"]
	if got, want := ingressView(prod), []ruleView{{"accept-flow-from-dev", "Accept"}, {"accept-shared", "Accept"}, {"deny-other-namespaces", "Deny"}}; !slices.Equal(got, want) {
		t.Errorf("prod ingress %v, want %v (Namespace isolation: no Pass for the tier)", got, want)
	}
	protos := prod.Spec.Ingress[0].Protocols
	if len(protos) != 2 || protos[0].TCP == nil || protos[0].TCP.DestinationPort.Number != 443 ||
		protos[1].UDP == nil || *protos[1].UDP.DestinationPort.Range != (npav1beta1.PortRange{Start: 8000, End: 8100}) {
		t.Errorf("flow protocols %+v", protos)
	}
	if shared := prod.Spec.Ingress[1].From[0].Namespaces.MatchExpressions; len(shared) != 1 || shared[0].Key != MetadataNameLabel ||
		!slices.Equal(shared[0].Values, []string{"ingress"}) {
		t.Errorf("shared peer %v: must select by kubernetes.io/metadata.name", shared)
	}
	if prod.Spec.Egress != nil {
		t.Errorf("egress rules without egress isolation: %v", prod.Spec.Egress)
	}

	prodA := byName["tierguard.company.prod.prod-a"]
	if prodA.Spec.Priority != DefaultCNPPriority || prodA.Spec.Subject.Namespaces.MatchLabels[MetadataNameLabel] != "prod-a" ||
		len(prodA.Spec.Ingress) != 1 || prodA.Spec.Ingress[0].Action != npav1beta1.ClusterNetworkPolicyRuleActionPass ||
		prodA.Spec.Ingress[0].From[0].Namespaces.MatchLabels[MetadataNameLabel] != "prod-a" {
		t.Errorf("prod-a's own policy: %+v", prodA.Spec)
	}
	for _, c := range cnps {
		if c.Labels[ManagedByLabel] != ManagedByValue || c.Labels[ProfileLabel] != "company" || c.Annotations[PlanHashAnnotation] == "" ||
			len(c.OwnerReferences) != 1 {
			t.Errorf("%s metadata %+v", c.Name, c.ObjectMeta)
		}
	}
}

func TestClusterNetworkPoliciesEgress(t *testing.T) {
	p := cnpProfile()
	p.Spec.Egress = segv1.Egress{Isolation: segv1.EgressIsolationTier,
		AllowedCIDRs: []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}}
	cnps, err := ClusterNetworkPolicies(p, cnpPlan(t, p), DefaultCNPPriority)
	if err != nil {
		t.Fatal(err)
	}
	dev := cnps[0]
	var got []ruleView
	for _, r := range dev.Spec.Egress {
		got = append(got, ruleView{r.Name, r.Action})
	}
	want := []ruleView{{"pass-same-tier", "Pass"}, {"accept-flow-to-prod", "Accept"}, {"accept-shared", "Accept"},
		{"accept-dns", "Accept"}, {"accept-allowed-cidrs", "Accept"}, {"deny-everything-else", "Deny"}}
	if !slices.Equal(got, want) {
		t.Fatalf("dev egress %v, want %v", got, want)
	}
	dns := dev.Spec.Egress[3]
	if dns.To[0].Pods == nil || dns.To[0].Pods.NamespaceSelector.MatchLabels[MetadataNameLabel] != "kube-system" ||
		dns.To[0].Pods.PodSelector.MatchLabels["k8s-app"] != "kube-dns" || len(dns.Protocols) != 2 {
		t.Errorf("DNS rule %+v", dns)
	}
	if nets := dev.Spec.Egress[4].To[0].Networks; len(nets) != 8 {
		t.Errorf("10.0.0.0/8 without 10.1.0.0/16 is 8 prefixes, got %v", nets)
	}
}

// TestNetworksOf checks, address by address, that the networks cover each
// block's CIDR except its excepts, and nothing else.
func TestNetworksOf(t *testing.T) {
	blocks := []segv1.IPBlock{
		{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16", "10.200.3.0/24", "10.1.2.0/24"}},
		{CIDR: "192.168.0.0/24"},
		{CIDR: "2001:db8::/32", Except: []string{"2001:db8:1::/48"}},
	}
	var nets []netip.Prefix
	for _, n := range networksOf(blocks) {
		nets = append(nets, netip.MustParsePrefix(string(n)))
	}
	in := func(a netip.Addr) bool {
		for _, b := range blocks {
			if !netip.MustParsePrefix(b.CIDR).Contains(a) {
				continue
			}
			for _, e := range b.Except {
				if netip.MustParsePrefix(e).Contains(a) {
					return false
				}
			}
			return true
		}
		return false
	}
	covered := func(a netip.Addr) bool {
		return slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	rng := rand.New(rand.NewPCG(1, 2))
	probe := []netip.Addr{netip.MustParseAddr("10.1.255.255"), netip.MustParseAddr("10.2.0.0"), netip.MustParseAddr("10.200.3.7"),
		netip.MustParseAddr("10.200.4.0"), netip.MustParseAddr("11.0.0.0"), netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:2::1")}
	for range 20000 {
		var b [4]byte
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = []byte{10, 192, 11}[rng.IntN(3)]
		if b[0] == 192 {
			b[1] = 168
		}
		probe = append(probe, netip.AddrFrom4(b))
	}
	for _, a := range probe {
		if in(a) != covered(a) {
			t.Fatalf("%s: in the blocks %t, covered by %v %t", a, in(a), nets, covered(a))
		}
	}
	for i, a := range nets {
		for _, b := range nets[i+1:] {
			if a.Overlaps(b) {
				t.Fatalf("%s and %s overlap", a, b)
			}
		}
	}
}

// A flow on a named port would have to be widened or passed to the tier
// namespace owners control: refused instead.
func TestClusterNetworkPoliciesRefuseNamedPorts(t *testing.T) {
	p := cnpProfile()
	p.Spec.Flows[0].Ports = append(p.Spec.Flows[0].Ports, segv1.NetworkPolicyPort{Port: ptr.To(intstr.FromString("metrics"))})
	if _, err := ClusterNetworkPolicies(p, cnpPlan(t, p), DefaultCNPPriority); err == nil || !strings.Contains(err.Error(), `"metrics"`) {
		t.Fatalf("a named flow port: %v, want an error naming it", err)
	}
}

func TestCNPNameBounded(t *testing.T) {
	long := strings.Repeat("abcdefghij", 30)
	n := cnpName(long, "dev", "ns")
	if len(n) > 253 || n == cnpName(long, "dev", "other") {
		t.Fatalf("name %q (%d bytes) not bounded or not unique", n, len(n))
	}
}
