package controller_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// cacheMismatches compares every namespace and managed NetworkPolicy the
// manager's cache holds, as it holds them (no copies), with the API
// server's object at the same resourceVersion, less what the cache strips
// (managedFields, kubectl's last-applied copy). It returns the objects that
// differ, and how many were compared.
func cacheMismatches() (mismatches []string, compared int) {
	GinkgoHelper()
	namespaces := &metav1.PartialObjectMetadataList{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	Expect(mgrCache.List(bgCtx, namespaces, client.UnsafeDisableDeepCopy)).To(Succeed())
	for i := range namespaces.Items {
		cached := &namespaces.Items[i]
		live := &corev1.Namespace{}
		if k8s.Get(bgCtx, client.ObjectKey{Name: cached.Name}, live) != nil || live.ResourceVersion != cached.ResourceVersion {
			continue // changed since: nothing to compare
		}
		compared++
		if !equality.Semantic.DeepEqual(cached.Labels, live.Labels) || !equality.Semantic.DeepEqual(cached.Annotations, live.Annotations) {
			mismatches = append(mismatches, fmt.Sprintf("Namespace %s: cached %v, API server %v", cached.Name, cached.Labels, live.Labels))
		}
	}
	policies := &networkingv1.NetworkPolicyList{}
	Expect(mgrCache.List(bgCtx, policies, client.UnsafeDisableDeepCopy)).To(Succeed())
	for i := range policies.Items {
		cached := &policies.Items[i]
		live := &networkingv1.NetworkPolicy{}
		if k8s.Get(bgCtx, client.ObjectKeyFromObject(cached), live) != nil || live.ResourceVersion != cached.ResourceVersion {
			continue
		}
		compared++
		delete(live.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
		if !equality.Semantic.DeepEqual(cached.Spec, live.Spec) || !equality.Semantic.DeepEqual(cached.Labels, live.Labels) ||
			!equality.Semantic.DeepEqual(cached.Annotations, live.Annotations) || !equality.Semantic.DeepEqual(cached.OwnerReferences, live.OwnerReferences) {
			mismatches = append(mismatches, fmt.Sprintf("NetworkPolicy %s/%s differs from the API server's", cached.Namespace, cached.Name))
		}
	}
	return mismatches, compared
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
// pass would corrupt every policy of the tier. After passes that plan,
// repair drift and analyze leaks anew, every cached object must still be
// what the API server holds at its resourceVersion.
var _ = Describe("The manager's cache", func() {
	It("is never mutated by a pass", func() {
		f := newFixture()
		devA := f.envNamespace("dev-a", "dev")
		devB := f.envNamespace("dev-b", "dev")
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

		passes := func(change func()) {
			GinkgoHelper()
			n := reconciles()
			change()
			Eventually(reconciles, timeout, interval).Should(BeNumerically(">", n))
		}
		By("a pass with nothing to do")
		passes(func() {
			f.update(p.Name, func(p *segv1.SegmentationProfile) {
				metav1.SetMetaDataAnnotation(&p.ObjectMeta, "tierguard.test/touch", "1")
			})
		})
		By("a pass that repairs drift")
		passes(func() {
			ns := &corev1.Namespace{}
			Expect(k8s.Get(bgCtx, client.ObjectKey{Name: devB}, ns)).To(Succeed())
			ns.Labels[f.key] = "prod"
			Expect(k8s.Update(bgCtx, ns)).To(Succeed())
		})
		Eventually(func() string { return labelsOf(devB)[f.key] }, timeout, interval).Should(Equal("dev"))
		By("a pass that analyzes leaks anew")
		passes(func() {
			Expect(k8s.Create(bgCtx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: devA, Name: "allow-all"},
				Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}})).To(Succeed())
		})
		Eventually(func() int32 { return f.get(p.Name).Status.Isolation.LeakCount }, timeout, interval).Should(BeNumerically(">", 0))

		mismatches, compared := cacheMismatches()
		Expect(mismatches).To(BeEmpty(), "passes changed cached objects")
		Expect(compared).To(BeNumerically(">", 6), "the comparison covered almost nothing")
	})
})
