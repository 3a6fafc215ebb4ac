package cnp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// TestRuleBounds: a profile at the bounds the CEL rules set for
// ClusterNetworkPolicy enforcement is admitted and every policy rendered
// from it is accepted by the CRD (at most 25 rules of at most 25
// protocols); one flow or port more is refused at admission, with the
// reason, instead of failing later as a refused write.
func TestRuleBounds(t *testing.T) {
	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crd(t)}}); err != nil {
		t.Fatal(err)
	}
	ports := func(n int) []segv1.NetworkPolicyPort {
		out := make([]segv1.NetworkPolicyPort, n)
		for i := range out {
			out[i] = segv1.NetworkPolicyPort{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(int32(1000 + i)))}
		}
		return out
	}
	tier := func(i int) segv1.TierName { return segv1.TierName(fmt.Sprintf("t%d", i)) }
	// t0 receives flows from t1..t{in}, each on nPorts ports, and sends
	// flows to t1..t{out}; egress is isolated with eight DNS targets and
	// allowed CIDRs, and a namespace is shared.
	profile := func(name string, in, out, nPorts int) *segv1.SegmentationProfile {
		p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: segv1.SegmentationProfileSpec{
			Enforcement: segv1.EnforcementClusterNetworkPolicy,
			Egress: segv1.Egress{Isolation: segv1.EgressIsolationTier,
				AllowedCIDRs: []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
			SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{"ingress"}},
		}}
		for i := range 8 {
			p.Spec.Egress.DNSTargets = append(p.Spec.Egress.DNSTargets, segv1.DNSTarget{CIDR: ptr.To(fmt.Sprintf("169.254.20.%d/32", i)),
				Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(53))}}})
		}
		for i := range max(in, out) + 1 {
			p.Spec.Tiers = append(p.Spec.Tiers, segv1.Tier{Name: tier(i),
				Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{segv1.NamespaceName(fmt.Sprintf("%s-ns-%d", name, i))}}})
		}
		for i := 1; i <= in; i++ {
			p.Spec.Flows = append(p.Spec.Flows, segv1.Flow{From: tier(i), To: tier(0), Ports: ports(nPorts)})
		}
		for i := 1; i <= out; i++ {
			p.Spec.Flows = append(p.Spec.Flows, segv1.Flow{From: tier(0), To: tier(i)})
		}
		return p
	}
	ctx := context.Background()
	atBounds := profile("bounds", 22, 13, 25)
	if err := env.Client.Create(ctx, atBounds, client.DryRunAll); err != nil {
		t.Fatalf("a profile at the bounds was refused: %v", err)
	}
	namespaces := []render.Namespace{{Name: "ingress"}}
	for _, tr := range atBounds.Spec.Tiers {
		namespaces = append(namespaces, render.Namespace{Name: string(tr.Namespaces.Names[0])})
	}
	plan, err := render.Compute(render.Input{Profile: atBounds, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	cnps, err := render.ClusterNetworkPolicies(atBounds, plan, render.DefaultCNPPriority)
	if err != nil {
		t.Fatal(err)
	}
	if len(cnps[0].Spec.Ingress) != 25 || len(cnps[0].Spec.Egress) != 25 {
		t.Fatalf("tier t0's policy has %d ingress and %d egress rules, want 25 and 25 (at the bounds)", len(cnps[0].Spec.Ingress), len(cnps[0].Spec.Egress))
	}
	for _, c := range cnps {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		obj := &metav1.PartialObjectMetadata{TypeMeta: c.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: c.Name}}
		if err := env.Client.Patch(ctx, obj, client.RawPatch("application/apply-patch+yaml", data),
			client.FieldOwner("tierguard"), client.ForceOwnership, client.DryRunAll); err != nil {
			t.Errorf("%s refused: %v", c.Name, err)
		}
	}
	for _, tc := range []struct {
		name    string
		profile *segv1.SegmentationProfile
		message string
	}{
		{"23-flows-in", profile("flows-in", 23, 13, 1), "at most 22 flows"},
		{"26-ports", profile("ports", 22, 13, 26), "at most 25 ports"},
		{"14-flows-out", profile("flows-out", 22, 14, 1), "at most 21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, tc.profile, client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("admitted or refused for another reason (want %q): %v", tc.message, err)
			}
		})
	}
}
