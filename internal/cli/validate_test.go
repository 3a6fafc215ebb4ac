package cli

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

func admit(t *testing.T, doc string) (*segv1.SegmentationProfile, error) {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	obj, err := ReadProfileObject(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("ReadProfileObject: %v", err)
	}
	return v.Admit(context.Background(), obj)
}

func TestAdmitSamples(t *testing.T) {
	for _, path := range []string{
		"../../config/samples/segmentation_v1alpha1_segmentationprofile.yaml",
		"../../config/samples/segmentation_v1alpha1_segmentationprofile_egress.yaml",
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admit(t, string(data)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// TestAdmitAppliesDefaults: rendering must see the profile as the API server
// stores it, with the CRD's defaults.
func TestAdmitAppliesDefaults(t *testing.T) {
	p, err := admit(t, `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata: {name: defaults}
spec:
  tiers:
  - {name: dev, namespaces: {names: [a]}}
  - {name: test, namespaces: {names: [b]}}
  flows:
  - {from: dev, to: test, ports: [{port: 443}]}
status:
  governedNamespaces: 3
`)
	if err != nil {
		t.Fatal(err)
	}
	want := segv1.SegmentationProfileSpec{
		Mode:         segv1.ModeEnforce,
		TierLabelKey: "segmentation.tierguard.io/tier",
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"a"}}, Isolation: segv1.IsolationTier,
				Assignment: segv1.AssignmentRestricted},
			{Name: "test", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"b"}}, Isolation: segv1.IsolationTier,
				Assignment: segv1.AssignmentRestricted},
		},
		Flows: []segv1.Flow{{From: "dev", To: "test", Ports: []segv1.NetworkPolicyPort{
			{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))},
		}}},
		Egress:         segv1.Egress{Isolation: segv1.EgressIsolationNone, AllowDNS: ptr.To(true)},
		DeletionPolicy: segv1.DeletionPolicyDelete,
		LeavePolicy:    segv1.LeavePolicyRetain,
	}
	if diff := cmp.Diff(want, p.Spec); diff != "" {
		t.Errorf("defaulted spec (-want +got):\n%s", diff)
	}
	if p.Status.GovernedNamespaces != 0 {
		t.Errorf("status was kept; a create drops it")
	}
}

func TestAdmitRefusals(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{
			name: "CEL rule on a nested type",
			doc: `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata: {name: p}
spec:
  tiers: [{name: dev, namespaces: {names: [a]}, allowedIngressCIDRs: [{cidr: not-a-cidr}]}]
`,
			want: `The SegmentationProfile "p" is invalid: spec.tiers[0].allowedIngressCIDRs[0]: Invalid value: cidr must be a valid CIDR such as 10.0.0.0/8 or 2001:db8::/32`,
		},
		{
			name: "schema pattern",
			doc: `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata: {name: p}
spec:
  tiers: [{name: Dev, namespaces: {names: [a]}}]
`,
			want: `The SegmentationProfile "p" is invalid: spec.tiers[0].name: Invalid value: "Dev": spec.tiers[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`,
		},
		{
			name: "wrong apiVersion",
			doc: `apiVersion: segmentation.tierguard.io/v1
kind: SegmentationProfile
metadata: {name: p}
spec: {tiers: [{name: dev, namespaces: {names: [a]}}]}
`,
			want: `The SegmentationProfile "p" is invalid: apiVersion: Invalid value: "segmentation.tierguard.io/v1": must be segmentation.tierguard.io/v1alpha1`,
		},
		{
			name: "unknown field in metadata",
			doc: `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata: {name: p, labelz: {}}
spec: {tiers: [{name: dev, namespaces: {names: [a]}}]}
`,
			want: `SegmentationProfile in version "v1alpha1" cannot be handled as a SegmentationProfile: strict decoding error: unknown field "metadata.labelz"`,
		},
		{
			name: "generateName without a name",
			doc: `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata: {generateName: p-}
spec: {tiers: [{name: dev, namespaces: {names: [a]}}]}
`,
			want: `The SegmentationProfile "" is invalid: ` + "\n" +
				`* metadata.name: Required value: a profile to render needs a name: it is the value of the segmentation.tierguard.io/profile label` + "\n" +
				`* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admit(t, tc.doc)
			if err == nil || !IsInvalidProfile(err) {
				t.Fatalf("Admit error = %v, want an InvalidProfileError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("message:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}
