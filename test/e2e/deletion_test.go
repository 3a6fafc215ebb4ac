package e2e_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

var _ = Describe("Deletion", func() {
	// tierguardLabels are the labels a fixture's profile writes.
	tierguardLabels := func(f *fixture) []string { return []string{f.key, render.ProfileLabel, psaLabel} }
	governed := []string{"dev-a", "dev-b", "test-a", "test-b", "prod-a", "prod-b"}

	It("of a profile with deletionPolicy Delete removes its labels and policies", func(ctx SpecContext) {
		f := newFixture("delete")
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)

		run(ctx, "delete", "segmentationprofile", f.id, "--timeout=60s")
		pols, err := managedPolicies(ctx, f.id)
		Expect(err).NotTo(HaveOccurred())
		Expect(pols).To(BeEmpty(), "policies left after the profile is gone")
		for _, short := range governed {
			labels := nsLabels(ctx, f.ns(short))
			for _, l := range tierguardLabels(f) {
				Expect(labels).NotTo(HaveKey(l), "namespace %s", short)
			}
			Expect(labels).To(HaveKey("env"), "labels Tierguard does not own stay")
		}
		Eventually(func(ctx context.Context) bool {
			_, ok := scrape(ctx, managers.mainManager()).Get("tierguard_governed_namespaces", map[string]string{"profile": f.id, "tier": "dev"})
			return ok
		}).WithContext(ctx).WithTimeout(timeout).Should(BeFalse(), "metrics of a deleted profile")
	})

	It("of a profile with deletionPolicy Retain leaves its labels and policies", func(ctx SpecContext) {
		f := newFixture("retain")
		f.deletionPolicy = "Retain"
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
		pols, err := managedPolicies(ctx, f.id)
		Expect(err).NotTo(HaveOccurred())
		for _, pol := range pols {
			Expect(pol.OwnerReferences).To(BeEmpty(), "a retained policy must not be garbage collected with its profile")
		}

		run(ctx, "delete", "segmentationprofile", f.id, "--timeout=60s")
		// The garbage collector runs: give it time to (not) act.
		Consistently(func(ctx context.Context) int {
			pols, err := managedPolicies(ctx, f.id)
			Expect(err).NotTo(HaveOccurred())
			return len(pols)
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Equal(len(governed)))
		for _, short := range governed {
			Expect(nsLabels(ctx, f.ns(short))).To(HaveKey(f.key), "namespace %s", short)
		}
	})

	It("of a governed namespace lets it go and keeps the profile Ready with one namespace less", func(ctx SpecContext) {
		f := newFixture("nsdelete")
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
		Expect(f.profile(ctx).Status.GovernedNamespaces).To(BeEquivalentTo(6))

		// kube-controller-manager's namespace controller deletes the
		// namespace's policy and then the namespace itself.
		run(ctx, "delete", "namespace", f.ns("dev-b"), "--timeout=60s")
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: f.ns("dev-b")}, &corev1.Namespace{}))).To(BeTrue())
		Eventually(func(ctx context.Context) int32 { return f.profile(ctx).Status.GovernedNamespaces }).WithContext(ctx).
			WithTimeout(timeout).Should(BeEquivalentTo(5))
		f.expectConverged(ctx, timeout)
		p := f.profile(ctx)
		Expect(condition(p, segv1.ConditionReady)).To(Equal("True/Enforced"))
		Expect(p.Status.Tiers).To(ContainElement(segv1.TierStatus{Name: "dev", Namespaces: 1}))
		Expect(p.Status.Drift.Repairs).To(BeZero(), "a deleted namespace is not drift")
		Expect(profileEventsOf(ctx, f.id).reasons()).NotTo(ContainElement(segv1.ReasonApplyFailed))
		Eventually(func(ctx context.Context) float64 {
			v, _ := scrape(ctx, managers.mainManager()).Get("tierguard_governed_namespaces", map[string]string{"profile": f.id, "tier": "dev"})
			return v
		}).WithContext(ctx).WithTimeout(timeout).Should(Equal(1.0))
	})
})
