package dataplane_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/dataplane"
)

// A hole someone else opens: a foreign allow-all in a prod namespace lets
// real traffic in from every tier, and Tierguard must say so in status (it
// never deletes a policy it does not own); removing the policy closes both
// the traffic and the report.
var _ = Describe("A foreign allow-all in a prod namespace", Ordered, func() {
	const profile = "company-leak"

	It("opens real traffic and is reported by IsolationVerified=False; removing it closes both", func(ctx SpecContext) {
		createProfile(ctx, companyProfile(profile, profileOptions{}))
		intended := intendedModel(false)
		expectMatrix(ctx, intended.Matrix(bedNames(), allPorts))
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, profile, segv1.ConditionIsolationVerified) }).
			WithTimeout(matrixTimeout).Should(HaveReason(segv1.ReasonNoLeaks))

		By("adding an allow-all ingress policy of someone else's in prod-a")
		hole := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "prod-a", Name: "allow-all"},
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
			},
		}
		Expect(bed.Client.Create(ctx, hole)).To(Succeed())
		opened := dataplane.NewMatrix(bedNames(), allPorts, func(c dataplane.Cell) bool {
			return c.To == "prod-a" || intended.Allows(c)
		})
		show("Foreign allow-all in prod-a (egress isolation None)", expectMatrix(ctx, opened))
		Eventually(ctx, func(g Gomega) {
			c := profileCondition(ctx, profile, segv1.ConditionIsolationVerified)
			g.Expect(c).To(HaveReason(segv1.ReasonLeaksFound))
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("prod-a/allow-all"))
		}).WithTimeout(matrixTimeout).Should(Succeed())
		Consistently(ctx, func() []string { return policiesIn(ctx) }).WithTimeout(2*time.Second).
			Should(ContainElement("prod-a/allow-all"), "Tierguard never deletes a policy it does not own")

		By("removing it")
		Expect(bed.Client.Delete(ctx, hole)).To(Succeed())
		expectMatrix(ctx, intended.Matrix(bedNames(), allPorts))
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, profile, segv1.ConditionIsolationVerified) }).
			WithTimeout(matrixTimeout).Should(HaveReason(segv1.ReasonNoLeaks))
	})
})
