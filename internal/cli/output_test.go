package cli

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

func TestWarnings(t *testing.T) {
	plan := &render.Plan{
		Conflicts: []render.Conflict{
			{Reason: segv1.ConflictTierLabelKeyInUse, Message: "tierLabelKey k is used by the older profile a; this profile governs nothing"},
			{Namespace: "x", Reason: segv1.ConflictMultipleTiers, Message: "matched by tiers dev and test; left ungoverned"},
		},
		Skipped: []render.Skipped{
			{Namespace: "kube-system", Reason: render.SkipAlwaysExcluded},
			{Namespace: "x", Reason: render.SkipConflict + ": matched by tiers dev and test; left ungoverned"},
		},
	}
	var b bytes.Buffer
	if err := WriteWarnings(&b, plan); err != nil {
		t.Fatal(err)
	}
	want := "Warning: conflict TierLabelKeyInUse: tierLabelKey k is used by the older profile a; this profile governs nothing\n" +
		"Warning: namespace x: conflict MultipleTiers: matched by tiers dev and test; left ungoverned\n" +
		"Warning: namespace kube-system skipped: always excluded (Kubernetes system namespace)\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestObjectsMergeCurrentLabels(t *testing.T) {
	profile := &segv1.SegmentationProfile{Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"a"}}}},
	}}
	profile.Name = "p"
	namespaces := []render.Namespace{{Name: "a", Labels: map[string]string{"team": "x", "segmentation.tierguard.io/tier": "old"}}}
	plan, err := render.Compute(render.Input{Profile: profile, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	objects, err := Objects(profile, plan, namespaces)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteYAML(&b, objects); err != nil {
		t.Fatal(err)
	}
	wantNamespace := `---
apiVersion: v1
kind: Namespace
metadata:
  labels:
    segmentation.tierguard.io/profile: p
    segmentation.tierguard.io/tier: dev
    team: x
  name: a
spec: {}
status: {}
---
`
	if got := b.String()[:len(wantNamespace)]; got != wantNamespace {
		t.Errorf("got:\n%s\nwant:\n%s", got, wantNamespace)
	}
	if namespaces[0].Labels["segmentation.tierguard.io/tier"] != "old" {
		t.Errorf("the input labels were modified")
	}
}
