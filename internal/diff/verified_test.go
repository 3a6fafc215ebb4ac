package diff

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// TestVerifiedNeverHidesAChange checks that remembering a match never hides
// a change to the policy (a new resourceVersion) or to the plan (a new hash
// or owner), and that a pass with the memory gives the same actions as one
// without.
func TestVerifiedNeverHidesAChange(t *testing.T) {
	namespaces := map[string]map[string]string{"a": enforcedLabels("dev", "dev")}
	current := enforcedPolicy(t, "a", "dev", "dev")
	current.UID, current.ResourceVersion = "p-1", "10"
	obs := func(pol *networkingv1.NetworkPolicy, v *Verified) Observed {
		return Observed{NamespaceLabels: namespaces, Policies: map[string]*networkingv1.NetworkPolicy{"a": pol},
			Seen: map[string]bool{"a": true}, Verified: v}
	}
	v := NewVerified()
	p := plan(t, namespaces)
	if got := Compute(p, obs(current, v)); len(got) != 0 {
		t.Fatalf("converged policy: got %d actions", len(got))
	}
	if len(v.matched) != 1 {
		t.Fatalf("the match was not remembered: %v", v.matched)
	}

	edited := current.DeepCopy()
	edited.ResourceVersion = "11"
	edited.Spec.Ingress = append(edited.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
	got := Compute(p, obs(edited, v))
	if len(got) != 1 || got[0].Type != ApplyPolicy || got[0].Drift == nil {
		t.Fatalf("edited policy (new resourceVersion): got %+v, want one drift repair", got)
	}

	// Same policy version, another plan: the profile now deletes what it wrote,
	// so its policies must carry an owner reference.
	if got := Compute(p, obs(current, v)); len(got) != 0 {
		t.Fatalf("back to the converged policy: got %d actions", len(got))
	}
	other := plan(t, map[string]map[string]string{"a": {"env": "prod"}})
	got = Compute(other, obs(current, v))
	withoutMemory := Compute(other, obs(current, nil))
	if len(got) == 0 || len(got) != len(withoutMemory) {
		t.Fatalf("plan changed under an unchanged policy: got %d actions, %d without memory", len(got), len(withoutMemory))
	}

	// Namespaces that leave the plan are forgotten.
	Compute(plan(t, map[string]map[string]string{"b": {"env": "dev"}}), obs(current, v))
	if len(v.matched) != 0 {
		t.Fatalf("memory kept namespaces no longer planned: %v", v.matched)
	}
}
