package reports

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/leaks"
	"github.com/tierguard/tierguard/internal/render"
)

func input(t *testing.T, holes int) Input {
	t.Helper()
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company", UID: "u1"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"dev-a"}}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"prod-a"}}, Isolation: segv1.IsolationNamespace}},
	}}
	at := metav1.NewTime(metav1.Now().Add(-time.Hour))
	p.Status.Conditions = []metav1.Condition{
		{Type: segv1.ConditionReady, Status: metav1.ConditionTrue, Reason: segv1.ReasonEnforced, Message: "2 namespace(s) match the plan", LastTransitionTime: at},
		{Type: segv1.ConditionIsolationVerified, Status: metav1.ConditionFalse, Reason: segv1.ReasonLeaksFound, LastTransitionTime: at},
	}
	p.Status.Drift.Recent = []segv1.DriftRecord{{Time: at, Namespace: "prod-a", Kind: segv1.KindNetworkPolicy, Name: render.PolicyName,
		Change: segv1.DriftModified, Manager: "kubectl-edit"}}
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: []render.Namespace{{Name: "dev-a"}, {Name: "prod-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Profile: p, Plan: plan, IsolationKnown: true}
	for i := range holes {
		in.Leaks = append(in.Leaks, leaks.Leak{FromTier: "dev", To: "prod-a", Ports: fmt.Sprintf("TCP/%d", 1000+i), Policy: "prod-a/open"})
	}
	return in
}

// TestReports: the results a person acts on, deterministic, and bounded.
func TestReports(t *testing.T) {
	in := input(t, 1)
	cr := ClusterReport(in)
	if cr.Name != "tierguard-company" || cr.Scope.Kind != "SegmentationProfile" || len(cr.OwnerReferences) != 1 ||
		cr.Summary.Fail != 1 || cr.Summary.Warn != 1 || cr.Summary.Pass < 3 {
		t.Fatalf("cluster report %+v", cr)
	}
	reps := NamespaceReports(in)
	if len(reps) != 2 || reps[0].Namespace != "dev-a" || reps[1].Namespace != "prod-a" {
		t.Fatalf("reports %+v", reps)
	}
	if reps[0].Summary.Fail != 0 || reps[0].Summary.Warn != 0 {
		t.Errorf("dev-a has findings: %+v", reps[0].Results)
	}
	if reps[1].Summary.Fail != 1 || reps[1].Summary.Warn != 1 {
		t.Errorf("prod-a: %+v", reps[1].Results)
	}
	for _, r := range reps[1].Results {
		if r.Rule == RuleDrift && (!strings.Contains(r.Description, "kubectl-edit") || r.Properties["manager"] != "kubectl-edit") {
			t.Errorf("drift result does not name the manager: %+v", r)
		}
	}
	if !equality.Semantic.DeepEqual(ClusterReport(in), ClusterReport(input(t, 1))) {
		t.Error("two builds from the same findings differ: every pass would write")
	}

	big := ClusterReport(input(t, 200))
	if len(big.Results) != MaxResults || big.Results[MaxResults-1].Rule != "truncated" ||
		!strings.HasPrefix(big.Results[MaxResults-1].Description, "15") {
		t.Fatalf("%d results, last %+v", len(big.Results), big.Results[len(big.Results)-1])
	}
}
