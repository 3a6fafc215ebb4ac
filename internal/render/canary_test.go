package render

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// TestCanaryMembership: the canary's namespaces join their tier and the
// shared set only when they carry the canary label naming the profile; a
// namespace someone else created under a canary's name is not adopted.
func TestCanaryMembership(t *testing.T) {
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company"}}
	p.Spec.Tiers = []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"sandbox"}}}, {Name: "prod",
		Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"payments"}}}}
	namespaces := []Namespace{
		{Name: "sandbox"}, {Name: "payments"},
		{Name: "tg-canary-company-dev", Labels: map[string]string{CanaryLabel: "company"}},
		{Name: "tg-canary-company-shared", Labels: map[string]string{CanaryLabel: "company"}},
		// A tenant's namespace under the canary's name for prod: no label.
		{Name: "tg-canary-company-prod"},
	}
	plan := func() map[string]string {
		got, err := Compute(Input{Profile: p, Namespaces: namespaces})
		if err != nil {
			t.Fatal(err)
		}
		tiers := map[string]string{}
		for _, g := range got.Governed {
			tiers[g.Name] = g.Tier
		}
		for _, ns := range got.Shared {
			tiers[ns] = "shared"
		}
		return tiers
	}
	if got := plan(); got["tg-canary-company-dev"] != "" || got["tg-canary-company-shared"] != "" {
		t.Fatalf("canary off: canary namespaces planned: %v", got)
	}
	p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: time.Minute}}
	got := plan()
	if got["tg-canary-company-dev"] != "dev" || got["tg-canary-company-shared"] != "shared" {
		t.Errorf("canary on: %v, want tg-canary-company-dev in dev and tg-canary-company-shared shared", got)
	}
	if tier, ok := got["tg-canary-company-prod"]; ok {
		t.Errorf("an unlabelled namespace under the canary's name was adopted into %s", tier)
	}
	p.Spec.Mode = segv1.ModeAudit
	if got := plan(); got["tg-canary-company-dev"] != "" {
		t.Errorf("Audit mode: the canary runs in Enforce only, but its namespace was planned: %v", got)
	}
}
