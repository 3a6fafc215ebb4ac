package memory

import (
	"fmt"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/render"
)

func governed(ns, hash string) render.GovernedNamespace {
	return render.GovernedNamespace{Name: ns, Tier: "dev", Hash: hash, Policy: &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PolicyName,
			Labels:      map[string]string{render.ManagedByLabel: render.ManagedByValue},
			Annotations: map[string]string{render.PlanHashAnnotation: hash}},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}}
}

func observed(g render.GovernedNamespace, uid, rv string) *networkingv1.NetworkPolicy {
	p := g.Policy.DeepCopy()
	p.UID, p.ResourceVersion = types.UID("p-"+uid), rv
	return p
}

func hits(memory string) (hit, miss float64) {
	return lookups(memory, "hit"), lookups(memory, "miss")
}

// TestPolicyMatchesNeverHidesAChange checks that remembering a match never
// hides a change to the policy (a new resourceVersion or UID) or to the
// plan (a new hash or owner), and that the lookups are counted.
func TestPolicyMatchesNeverHidesAChange(t *testing.T) {
	var m Memory
	p := m.Profile("company")
	g := governed("a", "h1")
	current := observed(g, "1", "10")
	hit0, miss0 := hits("verified")

	if !p.PolicyMatches(current, &g) {
		t.Fatal("a converged policy does not match")
	}
	if !p.PolicyMatches(current, &g) {
		t.Fatal("a remembered match is lost")
	}
	if hit, miss := hits("verified"); hit-hit0 != 1 || miss-miss0 != 1 {
		t.Fatalf("lookups: %v hits and %v misses, want 1 and 1", hit-hit0, miss-miss0)
	}

	edited := current.DeepCopy()
	edited.ResourceVersion = "11"
	edited.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
	if p.PolicyMatches(edited, &g) {
		t.Fatal("an edit (new resourceVersion) was hidden")
	}
	if !p.PolicyMatches(current, &g) {
		t.Fatal("back at the matching version, no match")
	}

	recreated := observed(g, "2", "10") // same version string, another object
	recreated.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
	if p.PolicyMatches(recreated, &g) {
		t.Fatal("a recreated policy (new UID) was hidden")
	}

	changedPlan := governed("a", "h2")
	if p.PolicyMatches(current, &changedPlan) {
		t.Fatal("a plan change (new hash) was hidden")
	}

	owned := governed("a", "h1")
	owned.Policy.OwnerReferences = []metav1.OwnerReference{{UID: "profile-uid", Kind: "SegmentationProfile", Name: "company"}}
	if p.PolicyMatches(current, &owned) {
		t.Fatal("a new owner (deletionPolicy Delete) was hidden")
	}
}

// TestPruneBoundsTheMemoryByThePlan: namespaces created and deleted by the
// thousand must not grow a profile's memory.
func TestPruneBoundsTheMemoryByThePlan(t *testing.T) {
	var m Memory
	p := m.Profile("company")
	for i := range 1000 {
		g := governed(fmt.Sprintf("churn-%04d", i), "h")
		p.MarkSeen(g.Name, true)
		p.PolicyMatches(observed(g, "1", "1"), &g)
	}
	plan := &render.Plan{Governed: []render.GovernedNamespace{governed("churn-0001", "h"), governed("stays", "h")}, Held: []string{"churn-0002"}}
	p.Prune(plan)
	if len(p.seen) != 2 || !p.Seen("churn-0001") || !p.Seen("churn-0002") {
		t.Fatalf("seen after prune: %v, want churn-0001 (governed) and churn-0002 (held)", p.seen)
	}
	if len(p.verified) != 2 {
		t.Fatalf("verified after prune: %d entries, want 2", len(p.verified))
	}
}

func TestForgetDropsTheProfile(t *testing.T) {
	var m Memory
	m.Profile("a").MarkSeen("x", true)
	m.Profile("b").MarkSeen("y", true)
	m.Forget("a")
	if m.Len() != 1 || m.Profile("a").Seen("x") || !m.Profile("b").Seen("y") {
		t.Fatal("Forget dropped the wrong profile's memory")
	}
}

func TestNewlyRetained(t *testing.T) {
	var p Profile
	if got := p.NewlyRetained([]string{"old"}); len(got) != 0 {
		t.Fatalf("first pass: %v, want none (they left under a previous process)", got)
	}
	if got := p.NewlyRetained([]string{"new", "old"}); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("second pass: %v, want [new]", got)
	}
	if got := p.NewlyRetained([]string{"new", "old"}); len(got) != 0 {
		t.Fatalf("third pass: %v, want none", got)
	}
	if got := p.NewlyRetained(nil); len(got) != 0 {
		t.Fatalf("none retained: %v", got)
	}
	if got := p.NewlyRetained([]string{"old"}); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("retained again after leaving the set: %v, want [old]", got)
	}
}

func TestAccepted(t *testing.T) {
	var p Profile
	g := governed("a", "h1")
	if p.Accepted(&g) {
		t.Fatal("accepted before any dry run")
	}
	p.Accept(&g)
	same := governed("b", "h1") // another namespace of the same tier plan
	if !p.Accepted(&same) {
		t.Fatal("the tier plan was accepted for one namespace, not for its tier")
	}
	owned := governed("a", "h1")
	owned.Policy.OwnerReferences = []metav1.OwnerReference{{UID: "u"}}
	if p.Accepted(&owned) {
		t.Fatal("a plan with another owner counts as accepted")
	}
}

func TestLeaks(t *testing.T) {
	var p Profile
	if _, ok := p.Leaks("k1"); ok {
		t.Fatal("a hit before any analysis")
	}
	p.RememberLeaks("k1", nil) // an analysis that found nothing is remembered too
	if found, ok := p.Leaks("k1"); !ok || len(found) != 0 {
		t.Fatal("an empty analysis was not remembered")
	}
	p.RememberLeaks("k2", []leaks.Leak{{To: "prod-a"}})
	if _, ok := p.Leaks("k1"); ok {
		t.Fatal("an older analysis answered")
	}
	p.RememberLeaks("", nil)
	if _, ok := p.Leaks(""); ok {
		t.Fatal("a forgotten analysis answered")
	}
}

func TestReportTiers(t *testing.T) {
	var p Profile
	if gone := p.ReportTiers([]string{"dev", "prod"}); len(gone) != 0 {
		t.Fatalf("first report: %v gone", gone)
	}
	if gone := p.ReportTiers([]string{"development", "prod"}); !slices.Equal(gone, []string{"dev"}) {
		t.Fatalf("renamed tier: %v gone, want [dev]", gone)
	}
}
