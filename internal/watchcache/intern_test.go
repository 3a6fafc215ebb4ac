package watchcache

import (
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tierguard/tierguard/internal/render"
)

func managedPolicy(ns, hash string, port int) *networkingv1.NetworkPolicy {
	p := intstr.FromInt32(int32(port))
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PolicyName,
			Labels:          map[string]string{render.ManagedByLabel: render.ManagedByValue, render.ProfileLabel: "company"},
			Annotations:     map[string]string{render.PlanHashAnnotation: hash},
			OwnerReferences: []metav1.OwnerReference{{Kind: "SegmentationProfile", Name: "company", UID: "u-1"}},
		},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Port: &p}},
		}}},
	}
}

// TestInternerSharesOnlyIdenticalParts checks that a tier's policies share
// their spec and metadata in the cache, while a policy that differs (an
// edit under the same plan hash) keeps its own, and every object still
// reads as it came from the API server.
func TestInternerSharesOnlyIdenticalParts(t *testing.T) {
	in := newInterner()
	a, b, edited := managedPolicy("a", "h1", 80), managedPolicy("b", "h1", 80), managedPolicy("c", "h1", 9999)
	want := []*networkingv1.NetworkPolicy{a.DeepCopy(), b.DeepCopy(), edited.DeepCopy()}
	for _, p := range []*networkingv1.NetworkPolicy{a, b, edited} {
		in.policy(p)
	}
	for i, p := range []*networkingv1.NetworkPolicy{a, b, edited} {
		if !equality.Semantic.DeepEqual(p, want[i]) {
			t.Fatalf("interning changed policy %s", p.Namespace)
		}
	}
	if &a.Spec.Ingress[0] != &b.Spec.Ingress[0] {
		t.Error("identical specs of one plan hash are not shared")
	}
	if &a.Spec.Ingress[0] == &edited.Spec.Ingress[0] {
		t.Error("an edited spec was replaced by the tier's")
	}
	if reflect.ValueOf(a.Labels).Pointer() != reflect.ValueOf(edited.Labels).Pointer() ||
		&a.OwnerReferences[0] != &b.OwnerReferences[0] {
		t.Error("identical labels or owner references are not shared")
	}

	foreign := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "allow", Labels: map[string]string{"x": "y"}}}
	labels := foreign.Labels
	in.policy(foreign)
	if reflect.ValueOf(foreign.Labels).Pointer() != reflect.ValueOf(labels).Pointer() || len(in.sets) != 2 {
		t.Error("a foreign policy was interned")
	}
}
