package main

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// TestProfileEditsChange checks, with the renderer alone, which objects
// each edit of the bench changes for 30 namespaces (10 per tier).
func TestProfileEditsChange(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	profile, err := loadProfile(filepath.Join(root, "config"))
	if err != nil {
		t.Fatal(err)
	}
	profile.UID = "uid"
	profile.Spec.Mode = segv1.ModeAudit
	l := newLayout(30, 2)
	var namespaces []corev1.Namespace
	for _, name := range l.all() {
		namespaces = append(namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l.labels[name]}})
	}
	want := []map[string]int{
		{changeLabels: 30, changePolicy: 30},        // Audit to Enforce: everything
		{changePolicy: 10},                          // a flow into prod: prod's policies
		{changeLabels: 10, changePolicy: 20},        // test renamed: its labels and policies, and dev's flow to it
		{changeLabels: 10, changePolicy: 10},        // dev's namespaceLabels: labels, and the policies' plan hash
		{changePolicyDelete: 30, changeCNP: 3 + 10}, // ClusterNetworkPolicy: one per tier, one per prod namespace
		{changeCNP: 1},                              // a flow into prod: prod's tier policy
	}
	prev, err := stateOf(profile, namespaces)
	if err != nil {
		t.Fatal(err)
	}
	if len(prev.labels)+len(prev.policies)+len(prev.cnps) != 0 {
		t.Fatalf("Audit mode plans objects: %+v", prev)
	}
	for i, e := range profileEdits {
		e.change(profile)
		next, err := stateOf(profile, namespaces)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		got := countChanges(diffStates(prev, next))
		if !equalCounts(got, want[i]) {
			t.Errorf("%s: changes %v, want %v", e.name, got, want[i])
		}
		if back := diffStates(next, next); len(back) != 0 {
			t.Errorf("%s: a state differs from itself in %d objects", e.name, len(back))
		}
		prev = next
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
