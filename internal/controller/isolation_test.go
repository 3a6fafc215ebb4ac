package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

var _ = Describe("Isolation verification", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })
	AfterEach(func() { f.cleanup() })

	leaksOf := func() []segv1.Leak { return f.get(f.id).Status.Isolation.Leaks }
	foreign := func(ns, name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
		Expect(k8s.Create(f.ctx, p)).To(Succeed())
		return p
	}

	It("names a foreign allow-all that opens a prod namespace, and clears when it goes", func() {
		f.envNamespace("dev-a", "dev")
		prod := f.envNamespace("prod-a", "prod")
		f.create(f.profile())
		f.waitEnforced(f.id)
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("True/NoLeaks"))

		hole := foreign(prod, "allow-all", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}})
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("False/LeaksFound"))
		Expect(leaksOf()).To(ContainElement(segv1.Leak{FromTier: "dev", To: prod, Ports: "TCP/all, UDP/all, SCTP/all", Policy: prod + "/allow-all"}))
		p := f.get(f.id)
		Expect(p.Status.Isolation.LeakCount).To(BeNumerically(">=", 1))
		Expect(meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionIsolationVerified).Message).To(ContainSubstring(prod + "/allow-all"))
		Eventually(eventReasons(f.id), timeout, interval).Should(ContainElement("LeaksFound"))
		Consistently(func() error { _, err := policyIn(prod); return err }, "1s", interval).Should(Succeed(),
			"Tierguard never deletes a policy it does not own")

		Expect(k8s.Delete(f.ctx, hole)).To(Succeed())
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("True/NoLeaks"))
		Expect(leaksOf()).To(BeEmpty())
	})

	It("finds a hole that was there before its namespace joined a tier, and forgets namespaces that leave", func() {
		f.envNamespace("dev-a", "dev")
		f.envNamespace("prod-a", "prod")
		late := f.namespace("late", map[string]string{"env": "none"})
		hole := foreign(late, "allow-all", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}})
		f.create(f.profile())
		f.waitEnforced(f.id)
		Consistently(f.condition(f.id, segv1.ConditionIsolationVerified), "1s", interval).Should(Equal("True/NoLeaks"),
			"a policy in a namespace no tier claims is no hole")

		setEnv := func(env string) {
			ns := &corev1.Namespace{}
			Expect(k8s.Get(f.ctx, client.ObjectKey{Name: late}, ns)).To(Succeed())
			ns.Labels["env"] = env
			Expect(k8s.Update(f.ctx, ns)).To(Succeed())
		}
		setEnv("prod")
		Eventually(leaksOf, timeout, interval).Should(ContainElement(HaveField("Policy", late+"/allow-all")))

		setEnv("none")
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("True/NoLeaks"))
		// Changed while ungoverned, then governed again: listed afresh.
		hole.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8443))}}}}
		Expect(k8s.Update(f.ctx, hole)).To(Succeed())
		setEnv("prod")
		Eventually(leaksOf, timeout, interval).Should(ContainElement(SatisfyAll(
			HaveField("Policy", late+"/allow-all"), HaveField("Ports", "TCP/8443"))))
	})

	It("finds namespaceSelector {} rules, rules selecting another tier, and ipBlocks, but not narrowing policies", func() {
		dev := f.envNamespace("dev-a", "dev")
		test := f.envNamespace("test-a", "test")
		prod := f.envNamespace("prod-a", "prod")
		f.create(f.profile())
		f.waitEnforced(f.id)

		foreign(prod, "deny-all", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}})
		foreign(test, "https-from-dev", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{f.key: "dev"}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(443))}},
		}}})
		Consistently(f.condition(f.id, segv1.ConditionIsolationVerified), "2s", interval).Should(Equal("True/NoLeaks"),
			"a policy that only narrows, or opens only what a flow allows, is no hole")

		// One hole at a time: other tests' namespaces are ungoverned sources
		// here too, and status lists only the first 20 holes.
		metrics := foreign(dev, "metrics", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
			Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(9090))}},
		}}})
		Eventually(leaksOf, timeout, interval).Should(ContainElement(segv1.Leak{FromTier: "test", To: dev, Ports: "TCP/9090", Policy: dev + "/metrics"}))
		Expect(leaksOf()).To(HaveEach(HaveField("Ports", "TCP/9090")))
		Expect(k8s.Delete(f.ctx, metrics)).To(Succeed())

		fromTest := foreign(prod, "from-test", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{f.key: "test"}}}},
		}}})
		Eventually(leaksOf, timeout, interval).Should(Equal([]segv1.Leak{
			{FromTier: "test", To: prod, Ports: "TCP/all, UDP/all, SCTP/all", Policy: prod + "/from-test"}}),
			"a rule selecting another tier's label opens the way from that tier only")
		Expect(k8s.Delete(f.ctx, fromTest)).To(Succeed())

		foreign(test, "world", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}},
		}}})
		Eventually(leaksOf, timeout, interval).Should(ContainElement(HaveField("Policy", test+"/world")))
		for _, l := range leaksOf() {
			Expect(l.Policy).NotTo(HaveSuffix("/deny-all"))
			Expect(l.Policy).NotTo(HaveSuffix("/https-from-dev"))
		}
	})
})
