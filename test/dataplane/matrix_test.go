package dataplane_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// The profile of the matrix specs starts in Audit mode, is switched to
// Enforce, gains egress isolation, sees a namespace move tier, and is
// deleted with deletionPolicy Delete.
var _ = Describe("The tier matrix measured with real packets", Ordered, func() {
	const profile = "company"

	BeforeAll(func(ctx SpecContext) {
		createProfile(ctx, companyProfile(profile, profileOptions{mode: segv1.ModeAudit}))
	})

	It("leaves traffic as it is in Audit mode", func(ctx SpecContext) {
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, profile, segv1.ConditionReady) }).
			WithTimeout(matrixTimeout).Should(HaveReason(segv1.ReasonAudited))
		holdMatrix(ctx, allOpen())
		Expect(policiesIn(ctx)).To(BeEmpty(), "Audit mode writes no policy")
	})

	It("closes exactly the forbidden cells when switched to Enforce (egress isolation off)", func(ctx SpecContext) {
		updateProfile(ctx, profile, func(s *segv1.SegmentationProfileSpec) { s.Mode = segv1.ModeEnforce })
		measured := expectMatrix(ctx, intendedModel(false).Matrix(bedNames(), allPorts))
		show("Sample profile, Enforce, egress isolation None", measured)
	})

	It("closes the egress cells too with egress isolation Tier", func(ctx SpecContext) {
		updateProfile(ctx, profile, func(s *segv1.SegmentationProfileSpec) { s.Egress.Isolation = segv1.EgressIsolationTier })
		measured := expectMatrix(ctx, intendedModel(true).Matrix(bedNames(), allPorts))
		show("Sample profile, Enforce, egress isolation Tier", measured)
	})

	It("gives a namespace relabelled into another tier that tier's connectivity", func(ctx SpecContext) {
		By("moving dev-b from dev to test")
		setNamespaceLabel(ctx, "dev-b", "env", "test")
		moved := intendedModel(true)
		moved.Tiers["dev-b"] = "test"
		show("Egress isolation Tier, dev-b relabelled env=test", expectMatrix(ctx, moved.Matrix(bedNames(), allPorts)))

		By("moving dev-b back")
		setNamespaceLabel(ctx, "dev-b", "env", "dev")
		expectMatrix(ctx, intendedModel(true).Matrix(bedNames(), allPorts))
	})

	It("opens every cell again when the profile is deleted with deletionPolicy Delete", func(ctx SpecContext) {
		deleteProfile(ctx, profile)
		expectMatrix(ctx, allOpen())
		Expect(policiesIn(ctx)).To(BeEmpty(), "Tierguard removes its policies")
	})
})

// Deleting a profile with deletionPolicy Retain keeps the isolation.
var _ = Describe("A profile deleted with deletionPolicy Retain", Ordered, func() {
	It("keeps the forbidden cells closed", func(ctx SpecContext) {
		const profile = "company-retain"
		createProfile(ctx, companyProfile(profile, profileOptions{deletionPolicy: segv1.DeletionPolicyRetain}))
		intended := intendedModel(false).Matrix(bedNames(), allPorts)
		expectMatrix(ctx, intended)

		deleteProfile(ctx, profile)
		holdMatrix(ctx, intended)
		Expect(policiesIn(ctx)).To(HaveLen(len(intendedModel(false).Tiers)), "one retained policy per governed namespace")
	})
})

// HaveReason matches a condition with the given reason.
func HaveReason(reason string) OmegaMatcher {
	return WithTransform(func(c *metav1.Condition) string {
		if c == nil {
			return "<absent>"
		}
		return c.Reason
	}, Equal(reason))
}
