package cnp

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// TestEnforcementAdmission: a profile enforced by ClusterNetworkPolicies may
// not name flow ports, which those policies cannot express; with
// NetworkPolicies it may.
func TestEnforcementAdmission(t *testing.T) {
	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	profile := func(name string, enforcement segv1.Enforcement, port intstr.IntOrString) *segv1.SegmentationProfile {
		return &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: segv1.SegmentationProfileSpec{
			Enforcement: enforcement,
			Tiers: []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"dev-a"}}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"prod-a"}}}},
			Flows: []segv1.Flow{{From: "dev", To: "prod", Ports: []segv1.NetworkPolicyPort{
				{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))}, {Protocol: "TCP", Port: &port}}}},
		}}
	}
	for _, tc := range []struct {
		name        string
		enforcement segv1.Enforcement
		port        intstr.IntOrString
		refused     bool
	}{
		{"np-named", "", intstr.FromString("https"), false},
		{"np-explicit-named", segv1.EnforcementNetworkPolicy, intstr.FromString("https"), false},
		{"cnp-number", segv1.EnforcementClusterNetworkPolicy, intstr.FromInt32(8443), false},
		{"cnp-named", segv1.EnforcementClusterNetworkPolicy, intstr.FromString("https"), true},
		{"both-named", segv1.EnforcementBoth, intstr.FromString("https"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), profile(tc.name, tc.enforcement, tc.port), client.DryRunAll)
			switch {
			case tc.refused && (err == nil || !strings.Contains(err.Error(), "must be a number")):
				t.Fatalf("admitted or refused for another reason: %v", err)
			case !tc.refused && err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}
}
