package watchcache

import (
	"maps"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func foreignAt(ns, name, rv string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv}}
}

func heldVersions(f *ForeignPolicies, ns string) map[string]string {
	out := map[string]string{}
	for name, p := range f.held[ns] {
		out[name] = p.ResourceVersion
	}
	return out
}

// TestForeignPoliciesMerge checks the store's rules that the envtest suite
// cannot time: what the reflector delivers while a namespace is listed, and
// a relist, never bring back a deleted policy or an older version, and
// namespaces no profile governs hold nothing.
func TestForeignPoliciesMerge(t *testing.T) {
	var notified []string
	f := NewForeignPolicies(nil, func(p []string) { notified = append(notified, p...) })

	_ = f.Add(foreignAt("elsewhere", "allow-all", "3"))
	if len(f.held) != 0 || len(notified) != 0 {
		t.Fatalf("a policy of an ungoverned namespace was kept: %v", f.held)
	}

	// prod is being listed (by govern) while the reflector delivers.
	f.governed["company"] = []string{"prod"}
	f.loading["prod"] = map[string]uint64{}
	_ = f.Add(foreignAt("prod", "a", "12"))
	_ = f.Add(foreignAt("prod", "b", "11"))
	_ = f.Delete(foreignAt("prod", "b", "15"))
	f.finishLoad([]string{"prod"}, map[string][]*networkingv1.NetworkPolicy{
		"prod": {foreignAt("prod", "a", "10"), foreignAt("prod", "b", "11"), foreignAt("prod", "c", "13")},
	}, true)
	if got, want := heldVersions(f, "prod"), map[string]string{"a": "12", "c": "13"}; !maps.Equal(got, want) {
		t.Fatalf("after the list: held %v, want %v (newer version kept, deletion kept)", got, want)
	}
	if len(f.loading) != 0 {
		t.Fatalf("still loading: %v", f.loading)
	}
	if !slices.Contains(notified, "company") {
		t.Fatalf("the governing profile was not told of a change: %v", notified)
	}

	// An older event after a newer list does not win.
	_ = f.Update(foreignAt("prod", "c", "9"))
	if heldVersions(f, "prod")["c"] != "13" {
		t.Fatalf("an older version replaced a newer one: %v", heldVersions(f, "prod"))
	}

	// A relist at version 20: a is gone (not listed, older than the list),
	// c is newer than the list and stays, d is new.
	_ = f.Update(foreignAt("prod", "c", "21"))
	_ = f.Replace([]any{foreignAt("prod", "d", "18"), foreignAt("elsewhere", "x", "19")}, "20")
	if got, want := heldVersions(f, "prod"), map[string]string{"c": "21", "d": "18"}; !maps.Equal(got, want) {
		t.Fatalf("after a relist: held %v, want %v", got, want)
	}
	if _, ok := f.held["elsewhere"]; ok {
		t.Fatal("a relist kept an ungoverned namespace")
	}

	f.Forget("company")
	if len(f.held) != 0 || len(f.governed) != 0 {
		t.Fatalf("a deleted profile's namespaces are still held: %v", f.held)
	}
}
