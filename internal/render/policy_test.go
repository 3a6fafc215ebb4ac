package render_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/tierguard/tierguard/internal/render"
)

// fullProfile uses every kind of rule, so that their order can be pinned.
// Its flows are deliberately not sorted by tier.
const fullProfile = `
metadata: {name: company, uid: company-uid}
spec:
  tierLabelKey: example.com/tier
  tiers:
  - name: dev
    namespaces: {names: [dev-1]}
    namespaceLabels: {pod-security.kubernetes.io/enforce: baseline, team: dev}
  - name: test
    namespaces: {names: [test-1]}
    allowedIngressCIDRs:
    - cidr: 203.0.113.0/24
    - cidr: 198.51.100.0/24
      except: [198.51.100.128/25]
  - name: prod
    namespaces: {names: [prod-1]}
    isolation: Namespace
  flows:
  - from: dev
    to: test
    ports:
    - {protocol: TCP, port: 443}
    - {port: 8000, endPort: 8080}
  - {from: prod, to: test}
  - from: test
    to: prod
    ports: [{port: https}]
  - from: dev
    to: prod
    ports: [{protocol: SCTP, port: 9000}]
  sharedNamespaces:
    names: [monitoring, ingress]
    selector: {matchLabels: {shared: "true"}}
  egress:
    isolation: Tier
    allowedCIDRs:
    - cidr: 0.0.0.0/0
      except: [10.0.0.0/8]
`

const key = "example.com/tier"

// Builders of expected rules; they spell out the specification's wording.
func tierPeer(tier string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{key: tier}}}
}

func sameNamespacePeer() networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}}
}

func sharedPeers() []networkingv1.NetworkPolicyPeer {
	return []networkingv1.NetworkPolicyPeer{
		{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"ingress", "monitoring"},
		}}}},
		{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"shared": "true"}}},
	}
}

func port(proto corev1.Protocol, p intstr.IntOrString, end ...int32) networkingv1.NetworkPolicyPort {
	np := networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(p)}
	if len(end) > 0 {
		np.EndPort = ptr.To(end[0])
	}
	return np
}

func dnsRule() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			port(corev1.ProtocolUDP, intstr.FromInt32(53)),
			port(corev1.ProtocolTCP, intstr.FromInt32(53)),
		},
	}
}

func egressCIDRRule() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}},
	}}
}

func computeOne(t *testing.T, doc, namespace string, namespaces ...render.Namespace) *render.GovernedNamespace {
	t.Helper()
	plan, err := render.Compute(render.Input{Profile: profileYAML(t, doc), Namespaces: namespaces})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	g := plan.Lookup(namespace)
	if g == nil {
		t.Fatalf("%s is not governed; plan: %+v", namespace, plan)
	}
	return g
}

var fullNamespaces = []render.Namespace{ns("dev-1"), ns("test-1"), ns("prod-1")}

func TestPolicyRulesInSpecifiedOrder(t *testing.T) {
	egressBoth := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	cases := map[string]networkingv1.NetworkPolicySpec{
		"test-1": {
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: egressBoth,
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{tierPeer("test")}},
				{From: sharedPeers()},
				{From: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}, Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolTCP, intstr.FromInt32(443)),
					port(corev1.ProtocolTCP, intstr.FromInt32(8000), 8080),
				}},
				{From: []networkingv1.NetworkPolicyPeer{tierPeer("prod")}},
				{From: []networkingv1.NetworkPolicyPeer{
					{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24"}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "198.51.100.0/24", Except: []string{"198.51.100.128/25"}}},
				}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("test")}},
				{To: sharedPeers()},
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("prod")}, Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolTCP, intstr.FromString("https")),
				}},
				dnsRule(),
				egressCIDRRule(),
			},
		},
		"prod-1": {
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: egressBoth,
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{sameNamespacePeer()}},
				{From: sharedPeers()},
				{From: []networkingv1.NetworkPolicyPeer{tierPeer("test")}, Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolTCP, intstr.FromString("https")),
				}},
				{From: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}, Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolSCTP, intstr.FromInt32(9000)),
				}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{sameNamespacePeer()}},
				{To: sharedPeers()},
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("test")}},
				dnsRule(),
				egressCIDRRule(),
			},
		},
		"dev-1": {
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: egressBoth,
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}},
				{From: sharedPeers()},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}},
				{To: sharedPeers()},
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("test")}, Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolTCP, intstr.FromInt32(443)),
					port(corev1.ProtocolTCP, intstr.FromInt32(8000), 8080),
				}},
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("prod")}, Ports: []networkingv1.NetworkPolicyPort{
					port(corev1.ProtocolSCTP, intstr.FromInt32(9000)),
				}},
				dnsRule(),
				egressCIDRRule(),
			},
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			g := computeOne(t, fullProfile, name, fullNamespaces...)
			if diff := cmp.Diff(want, g.Policy.Spec); diff != "" {
				t.Errorf("policy spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyMetadataAndDeletionPolicy(t *testing.T) {
	owner := []metav1.OwnerReference{{
		APIVersion: "segmentation.tierguard.io/v1alpha1", Kind: "SegmentationProfile",
		Name: "company", UID: "company-uid", Controller: ptr.To(true),
	}}
	cases := []struct {
		name   string
		policy string // the deletionPolicy line, if any
		owners []metav1.OwnerReference
	}{
		{name: "default is Delete", owners: owner},
		{name: "Delete", policy: "  deletionPolicy: Delete\n", owners: owner},
		{name: "Retain", policy: "  deletionPolicy: Retain\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := computeOne(t, fullProfile+tc.policy, "dev-1", fullNamespaces...)
			want := metav1.ObjectMeta{
				Name:      "tierguard-isolation",
				Namespace: "dev-1",
				Labels: map[string]string{
					"app.kubernetes.io/managed-by":      "tierguard",
					"segmentation.tierguard.io/profile": "company",
					"segmentation.tierguard.io/tier":    "dev",
				},
				Annotations:     map[string]string{render.PlanHashAnnotation: g.Hash},
				OwnerReferences: tc.owners,
			}
			if diff := cmp.Diff(want, g.Policy.ObjectMeta); diff != "" {
				t.Errorf("policy metadata (-want +got):\n%s", diff)
			}
			wantType := metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}
			if g.Policy.TypeMeta != wantType {
				t.Errorf("TypeMeta = %+v, want %+v", g.Policy.TypeMeta, wantType)
			}
		})
	}
}

func TestNamespaceLabelsAreExactlyTierguards(t *testing.T) {
	g := computeOne(t, fullProfile, "dev-1", ns("dev-1", "team=other", "owner=alice"))
	want := map[string]string{
		key:                                  "dev",
		"segmentation.tierguard.io/profile":  "company",
		"pod-security.kubernetes.io/enforce": "baseline",
		"team":                               "dev",
	}
	if diff := cmp.Diff(want, g.Labels); diff != "" {
		t.Errorf("owned labels (-want +got):\n%s", diff)
	}
	merged := render.MergedLabels(ns("dev-1", "team=other", "owner=alice").Labels, g.Labels)
	wantMerged := map[string]string{
		"kubernetes.io/metadata.name":        "dev-1",
		"owner":                              "alice",
		key:                                  "dev",
		"segmentation.tierguard.io/profile":  "company",
		"pod-security.kubernetes.io/enforce": "baseline",
		"team":                               "dev",
	}
	if diff := cmp.Diff(wantMerged, merged); diff != "" {
		t.Errorf("merged labels (-want +got):\n%s", diff)
	}

	defaultKey := computeOne(t, `
metadata: {name: p}
spec:
  tiers: [{name: dev, namespaces: {names: [dev-1]}}]
`, "dev-1", ns("dev-1"))
	wantDefault := map[string]string{"segmentation.tierguard.io/tier": "dev", "segmentation.tierguard.io/profile": "p"}
	if diff := cmp.Diff(wantDefault, defaultKey.Labels); diff != "" {
		t.Errorf("labels with the default tierLabelKey (-want +got):\n%s", diff)
	}
}

func TestMergedLabelsOfUnlabelledNamespace(t *testing.T) {
	got := render.MergedLabels(nil, map[string]string{"a": "b"})
	if diff := cmp.Diff(map[string]string{"a": "b"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// minimalProfile has neither shared namespaces, flows nor CIDRs: only the
// same-scope rule remains, plus DNS with egress isolation.
const minimalProfile = `
metadata: {name: p}
spec:
  tierLabelKey: example.com/tier
  tiers:
  - {name: dev, namespaces: {names: [dev-1]}}
  - {name: prod, namespaces: {names: [prod-1]}, isolation: Namespace}
`

func TestPolicyEgressAndDNS(t *testing.T) {
	ingressOnly := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	devIngress := []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}}}
	cases := []struct {
		name   string
		egress string
		ns     string
		want   networkingv1.NetworkPolicySpec
	}{
		{
			name: "no egress section: ingress only", ns: "dev-1",
			want: networkingv1.NetworkPolicySpec{PolicyTypes: ingressOnly, Ingress: devIngress},
		},
		{
			name:   "isolation None ignores allowDNS and allowedCIDRs",
			egress: "  egress: {isolation: None, allowDNS: true, allowedCIDRs: [{cidr: 0.0.0.0/0}]}\n", ns: "dev-1",
			want: networkingv1.NetworkPolicySpec{PolicyTypes: ingressOnly, Ingress: devIngress},
		},
		{
			name: "isolation Tier allows DNS by default", egress: "  egress: {isolation: Tier}\n", ns: "dev-1",
			want: networkingv1.NetworkPolicySpec{PolicyTypes: both, Ingress: devIngress, Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}}, dnsRule(),
			}},
		},
		{
			name: "allowDNS false", egress: "  egress: {isolation: Tier, allowDNS: false}\n", ns: "dev-1",
			want: networkingv1.NetworkPolicySpec{PolicyTypes: both, Ingress: devIngress, Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}},
			}},
		},
		{
			name: "Namespace isolation in both directions", egress: "  egress: {isolation: Tier, allowDNS: false}\n", ns: "prod-1",
			want: networkingv1.NetworkPolicySpec{
				PolicyTypes: both,
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{sameNamespacePeer()}}},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{sameNamespacePeer()}}},
			},
		},
		{
			name: "dnsTargets replace the default: NodeLocal DNSCache and a DNS on 5353 in its own namespace",
			egress: `  egress:
    isolation: Tier
    dnsTargets:
    - {cidr: 169.254.20.10/32, ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}
    - {namespace: dns-system, podSelector: {matchLabels: {app: coredns}}, ports: [{protocol: UDP, port: 5353}]}
    - {namespace: dns-system, ports: [{protocol: TCP, port: 5353}]}
`, ns: "dev-1",
			want: networkingv1.NetworkPolicySpec{PolicyTypes: both, Ingress: devIngress, Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}},
				{
					To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.20.10/32"}}},
					Ports: []networkingv1.NetworkPolicyPort{
						{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
						{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
					},
				},
				{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{render.MetadataNameLabel: "dns-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "coredns"}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(5353))}},
				},
				{
					To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{render.MetadataNameLabel: "dns-system"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(5353))}},
				},
			}},
		},
		{
			name: "allowedCIDRs last", egress: "  egress: {isolation: Tier, allowedCIDRs: [{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}]}\n", ns: "dev-1",
			want: networkingv1.NetworkPolicySpec{PolicyTypes: both, Ingress: devIngress, Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tierPeer("dev")}}, dnsRule(), egressCIDRRule(),
			}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := computeOne(t, minimalProfile+tc.egress, tc.ns, ns("dev-1"), ns("prod-1"))
			if diff := cmp.Diff(tc.want, g.Policy.Spec); diff != "" {
				t.Errorf("policy spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanHash(t *testing.T) {
	doc := `
metadata: {name: p}
spec:
  tiers:
  - {name: dev, namespaces: {selector: {matchLabels: {env: dev}}}}
  - {name: test, namespaces: {selector: {matchLabels: {env: test}}}}
`
	plan, err := render.Compute(render.Input{
		Profile:    profileYAML(t, doc),
		Namespaces: []render.Namespace{ns("dev-1", "env=dev"), ns("dev-2", "env=dev", "x=y"), ns("test-1", "env=test")},
	})
	if err != nil {
		t.Fatal(err)
	}
	dev1, dev2, test1 := plan.Lookup("dev-1"), plan.Lookup("dev-2"), plan.Lookup("test-1")
	if dev1.Hash == "" || dev1.Hash != dev2.Hash {
		t.Errorf("hashes within a tier: %q and %q; want equal and non-empty: the plan does not depend on other labels", dev1.Hash, dev2.Hash)
	}
	if dev1.Hash == test1.Hash {
		t.Errorf("hashes of different tiers are both %q", dev1.Hash)
	}
	if dev1.Policy.Annotations[render.PlanHashAnnotation] != dev1.Hash {
		t.Errorf("annotation %q, hash %q", dev1.Policy.Annotations[render.PlanHashAnnotation], dev1.Hash)
	}

	deleted := computeOne(t, fullProfile, "dev-1", fullNamespaces...)
	retained := computeOne(t, fullProfile+"  deletionPolicy: Retain\n", "dev-1", fullNamespaces...)
	if retained.Hash == deleted.Hash {
		t.Errorf("changing deletionPolicy kept hash %q; the owner reference changes, so must the hash", deleted.Hash)
	}
}

// TestSharedNamesOrderIsIrrelevant: sharedNamespaces.names is a set, so its
// order must change neither the policy nor the plan hash.
func TestSharedNamesOrderIsIrrelevant(t *testing.T) {
	a := computeOne(t, minimalProfile+"  sharedNamespaces: {names: [b, a, c]}\n", "dev-1", ns("dev-1"))
	b := computeOne(t, minimalProfile+"  sharedNamespaces: {names: [c, a, b]}\n", "dev-1", ns("dev-1"))
	if diff := cmp.Diff(a.Policy, b.Policy); diff != "" || a.Hash != b.Hash {
		t.Errorf("reordered shared names changed the plan (hash %s vs %s):\n%s", a.Hash, b.Hash, diff)
	}
	values := a.Policy.Spec.Ingress[1].From[0].NamespaceSelector.MatchExpressions[0].Values
	if diff := cmp.Diff([]string{"a", "b", "c"}, values); diff != "" {
		t.Errorf("shared names (-want +got):\n%s", diff)
	}
}
