// Package cnp checks Tierguard's ClusterNetworkPolicies against the
// network-policy-api CRD, installed from its pinned Go module.
package cnp

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// crd is the pinned module's ClusterNetworkPolicy CRD.
func crd(t *testing.T) string {
	t.Helper()
	path, err := harness.ClusterNetworkPolicyCRD()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRenderedPoliciesAreAccepted creates, with a server-side dry run, every
// ClusterNetworkPolicy Tierguard renders for a profile using each feature,
// against kube-apiserver with the CRD's schema and CEL rules.
func TestRenderedPoliciesAreAccepted(t *testing.T) {
	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crd(t)}}); err != nil {
		t.Fatal(err)
	}
	sel := func(env string) *segv1.LabelSelector {
		return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
	}
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: sel("dev")}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: sel("prod")}, Isolation: segv1.IsolationNamespace},
		},
		Flows: []segv1.Flow{{From: "dev", To: "prod", Ports: []segv1.NetworkPolicyPort{
			{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))},
			{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(8000)), EndPort: ptr.To(int32(8100))},
			{Protocol: "SCTP"},
		}}},
		SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{"ingress"}},
		Egress: segv1.Egress{Isolation: segv1.EgressIsolationTier,
			AllowedCIDRs: []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}, {CIDR: "2001:db8::/32"}},
			DNSTargets: []segv1.DNSTarget{{CIDR: ptr.To("169.254.20.10/32"), Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(53))}}},
				{Namespace: ptr.To(segv1.NamespaceName("kube-system"))}}},
	}}
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: []render.Namespace{
		{Name: "dev-a", Labels: map[string]string{"env": "dev"}},
		{Name: "prod-a", Labels: map[string]string{"env": "prod"}},
		{Name: "ingress"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cnps, err := render.ClusterNetworkPolicies(p, plan, render.DefaultCNPPriority)
	if err != nil {
		t.Fatal(err)
	}
	if len(cnps) != 3 {
		t.Fatalf("%d policies, want 3", len(cnps))
	}
	for _, c := range cnps {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		obj := &metav1.PartialObjectMetadata{TypeMeta: c.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: c.Name}}
		err = env.Client.Patch(context.Background(), obj, client.RawPatch("application/apply-patch+yaml", data),
			client.FieldOwner("tierguard"), client.ForceOwnership, client.DryRunAll)
		if err != nil {
			t.Errorf("%s refused: %v\n%s", c.Name, err, data)
		}
	}
}
