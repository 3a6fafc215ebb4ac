package dataplane_test

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/dataplane"
)

// tierLabel is the default tierLabelKey the fixture profile uses.
const tierLabel = "segmentation.tierguard.io/tier"

// Ports of the matrix: the dev-to-test flow's port, a port no flow allows,
// and DNS.
var (
	flowPort   = dataplane.Port{Protocol: "TCP", Number: 443}
	closedPort = dataplane.Port{Protocol: "TCP", Number: 8080}
	dnsPort    = dataplane.Port{Protocol: "UDP", Number: 53}
	allPorts   = []dataplane.Port{flowPort, closedPort, dnsPort}
)

// bedNamespaces have the shape of the sample profile's cluster: several
// namespaces per tier (sandbox joins dev by name, the others by label), a
// shared namespace, an excluded namespace that a tier's selector would match,
// and kube-system with the cluster DNS pod.
var bedNamespaces = []dataplane.Namespace{
	{Name: "sandbox"},
	{Name: "dev-a", Labels: map[string]string{"env": "dev"}},
	{Name: "dev-b", Labels: map[string]string{"env": "dev"}},
	{Name: "test-a", Labels: map[string]string{"env": "test"}},
	{Name: "test-b", Labels: map[string]string{"env": "test"}},
	{Name: "prod-a", Labels: map[string]string{"env": "prod"}},
	{Name: "prod-b", Labels: map[string]string{"env": "prod"}},
	{Name: "ingress-nginx"},
	{Name: "legacy", Labels: map[string]string{"env": "dev"}},
	{Name: "kube-system", PodLabels: map[string]string{"k8s-app": "kube-dns"}},
}

// profileOptions vary the fixture profile.
type profileOptions struct {
	mode           segv1.Mode
	egress         segv1.EgressIsolation
	deletionPolicy segv1.DeletionPolicy
}

// companyProfile has the shape of
// config/samples/segmentation_v1alpha1_segmentationprofile.yaml: dev (sandbox
// by name, env=dev by label), test and prod (isolated by namespace), dev may
// call test on TCP 443, ingress-nginx and monitoring are shared, legacy is
// excluded.
func companyProfile(name string, o profileOptions) *segv1.SegmentationProfile {
	selector := func(env string) *segv1.LabelSelector {
		return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
	}
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: segv1.SegmentationProfileSpec{
			Mode: o.mode,
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"sandbox"}, Selector: selector("dev")}},
				{Name: "test", Namespaces: segv1.NamespaceSet{Selector: selector("test")}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: selector("prod")}, Isolation: segv1.IsolationNamespace},
			},
			Flows: []segv1.Flow{{From: "dev", To: "test", Ports: []segv1.NetworkPolicyPort{
				{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))},
			}}},
			SharedNamespaces:   &segv1.NamespaceSet{Names: []segv1.NamespaceName{"ingress-nginx", "monitoring"}},
			Egress:             segv1.Egress{Isolation: o.egress},
			ExcludedNamespaces: []segv1.NamespaceName{"legacy"},
			DeletionPolicy:     o.deletionPolicy,
		},
	}
}

// intendedModel is what companyProfile intends for bedNamespaces, written
// out by hand: tiers by the namespaces' names and labels as the profile
// declares them, legacy excluded, kube-system never governed.
func intendedModel(egress bool) dataplane.Model {
	return dataplane.Model{
		Tiers: map[string]string{
			"sandbox": "dev", "dev-a": "dev", "dev-b": "dev",
			"test-a": "test", "test-b": "test",
			"prod-a": "prod", "prod-b": "prod",
		},
		NamespaceIsolated: map[string]bool{"prod": true},
		Shared:            map[string]bool{"ingress-nginx": true},
		Flows:             []dataplane.Flow{{From: "dev", To: "test", Ports: []dataplane.Port{flowPort}}},
		EgressIsolated:    egress,
		DNS:               map[string]bool{"kube-system": true},
	}
}

// bedNames returns the namespaces' names in order.
func bedNames() []string {
	names := make([]string, len(bedNamespaces))
	for i, ns := range bedNamespaces {
		names[i] = ns.Name
	}
	return names
}
