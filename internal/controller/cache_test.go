package controller_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// cacheDigests hashes every namespace and NetworkPolicy the manager's cache
// holds, as the cache itself holds them (no copies), by kind/namespace/name.
func cacheDigests() map[string]string {
	out := map[string]string{}
	add := func(key string, obj any) {
		data, err := json.Marshal(obj)
		Expect(err).NotTo(HaveOccurred())
		sum := sha256.Sum256(data)
		out[key] = hex.EncodeToString(sum[:])
	}
	namespaces := &metav1.PartialObjectMetadataList{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	Expect(mgrCache.List(bgCtx, namespaces, client.UnsafeDisableDeepCopy)).To(Succeed())
	for i := range namespaces.Items {
		add("Namespace/"+namespaces.Items[i].Name, &namespaces.Items[i])
	}
	policies := &networkingv1.NetworkPolicyList{}
	Expect(mgrCache.List(bgCtx, policies, client.UnsafeDisableDeepCopy)).To(Succeed())
	for i := range policies.Items {
		add("NetworkPolicy/"+policies.Items[i].Namespace+"/"+policies.Items[i].Name, &policies.Items[i])
	}
	return out
}

// reconciles is the number of passes the manager has made.
func reconciles() float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "segmentationprofile" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// The cache hands passes its own objects (UnsafeDisableDeepCopy), and a
// tier's policies share their spec and metadata: one careless write in a
// pass would corrupt every policy of the tier. Passes over a converged
// profile, with drift, leaks and conflicts to report, must leave every
// cached object exactly as it was.
var _ = Describe("The manager's cache", func() {
	It("is never mutated by a pass", func() {
		f := newFixture()
		f.envNamespace("dev-a", "dev")
		f.envNamespace("dev-b", "dev")
		prodA := f.envNamespace("prod-a", "prod")
		f.namespace("ingress", nil)
		p := f.profile()
		f.create(p)
		DeferCleanup(f.cleanup)
		f.waitEnforced(p.Name)
		// A foreign policy that opens the prod boundary: a leak to analyze.
		open := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: prodA, Name: "allow-all"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
		Expect(k8s.Create(bgCtx, open)).To(Succeed())
		Eventually(f.condition(p.Name, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("False/LeaksFound"))

		before := cacheDigests()
		for i := range 3 {
			n := reconciles()
			f.update(p.Name, func(p *segv1.SegmentationProfile) {
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations["tierguard.test/touch"] = string(rune('a' + i))
			})
			Eventually(reconciles, timeout, interval).Should(BeNumerically(">", n))
		}
		after := cacheDigests()
		for key := range maps.Keys(before) {
			Expect(after).To(HaveKeyWithValue(key, before[key]), "cached %s changed during passes that wrote nothing", key)
		}
	})
})
