package e2e_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

var _ = Describe("A profile applied with kubectl", func() {
	It("is enforced and reported in status, printer columns, events and metrics", func(ctx SpecContext) {
		began := time.Now()
		f := newFixture("basics")
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)

		By("writing as the manager's ServiceAccount, with server-side apply")
		var written []string
		for _, e := range stateWrites(harness.ManagerUser, began, time.Now()) {
			written = append(written, e.Verb+" "+e.Resource())
		}
		Expect(written).To(ContainElements("patch namespaces", "patch networkpolicies", "patch segmentationprofiles/status"))

		By("labelling the governed namespaces only")
		Expect(nsLabels(ctx, f.ns("dev-a"))).To(And(HaveKeyWithValue(f.key, "dev"), HaveKeyWithValue(render.ProfileLabel, f.id),
			HaveKeyWithValue(psaLabel, "baseline")))
		Expect(nsLabels(ctx, f.ns("test-b"))).To(And(HaveKeyWithValue(f.key, "test"), Not(HaveKey(psaLabel))))
		Expect(nsLabels(ctx, f.ns("prod-a"))).To(And(HaveKeyWithValue(f.key, "prod"), HaveKeyWithValue(psaLabel, "restricted")))
		for _, short := range []string{"ingress", "legacy", "other"} {
			Expect(nsLabels(ctx, f.ns(short))).NotTo(Or(HaveKey(f.key), HaveKey(render.ProfileLabel)), short)
		}

		By("writing one policy per governed namespace")
		out, err := kubectl.Run(ctx, "get", "networkpolicies", "--all-namespaces", "-l", render.ProfileLabel+"="+f.id,
			"-o", `jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
		Expect(err).NotTo(HaveOccurred())
		var want []string
		for _, short := range []string{"dev-a", "dev-b", "prod-a", "prod-b", "test-a", "test-b"} {
			want = append(want, f.ns(short)+"/"+render.PolicyName)
		}
		Expect(strings.Fields(out)).To(ConsistOf(want))
		pol, err := policyOf(ctx, f.ns("test-a"))
		Expect(err).NotTo(HaveOccurred())
		Expect(pol.Spec.Ingress).To(HaveLen(3), "same tier, shared namespaces, dev on 443")
		Expect(pol.Spec.Ingress[2].Ports).To(HaveLen(1))
		Expect(pol.Spec.Ingress[2].Ports[0].Port.IntValue()).To(Equal(443))

		By("reporting the plan in status")
		p := f.profile(ctx)
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		Expect(p.Status.GovernedNamespaces).To(BeEquivalentTo(6))
		Expect(p.Status.ManagedPolicies).To(BeEquivalentTo(6))
		Expect(p.Status.Tiers).To(Equal([]segv1.TierStatus{{Name: "dev", Namespaces: 2}, {Name: "test", Namespaces: 2}, {Name: "prod", Namespaces: 2}}))
		Expect(condition(p, segv1.ConditionDrifted)).To(Equal("False/NoDrift"))
		Expect(condition(p, segv1.ConditionConflict)).To(Equal("False/NoConflicts"))
		Expect(condition(p, segv1.ConditionReconciling)).To(BeEmpty())
		Expect(condition(p, segv1.ConditionStalled)).To(BeEmpty())
		Expect(p.Status.Drift.Repairs).To(BeZero())

		By("showing the printer columns with the short name")
		out, err = kubectl.Run(ctx, "get", "segprof", f.id)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines).To(HaveLen(2))
		Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "MODE", "READY", "NAMESPACES", "REPAIRS", "CONFLICTS", "AGE"}))
		Expect(strings.Fields(lines[1])[:6]).To(Equal([]string{f.id, "Enforce", "True", "6", "0", "0"}))

		By("emitting an Enforced event on the profile")
		Eventually(func() []string { return profileEventsOf(ctx, f.id).reasons() }).WithTimeout(timeout).Should(ContainElement("Enforced"))

		By("exporting the tier counts as metrics")
		m := scrape(ctx, managers.mainManager())
		for tier, n := range map[string]float64{"dev": 2, "test": 2, "prod": 2} {
			v, ok := m.Get("tierguard_governed_namespaces", map[string]string{"profile": f.id, "tier": tier})
			Expect(ok).To(BeTrue(), "tierguard_governed_namespaces for tier %s", tier)
			Expect(v).To(Equal(n), tier)
		}
		conflicts, ok := m.Get("tierguard_conflicts", map[string]string{"profile": f.id})
		Expect(ok).To(BeTrue(), "tierguard_conflicts")
		Expect(conflicts).To(BeZero())

		By("counting a repair in tierguard_drift_repairs_total")
		_, err = kubectl.Run(ctx, "patch", "networkpolicy", render.PolicyName, "-n", f.ns("prod-a"), "--type=json",
			`-p=[{"op":"add","path":"/spec/ingress/-","value":{}}]`)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() float64 {
			return scrape(ctx, managers.mainManager()).Sum("tierguard_drift_repairs_total",
				map[string]string{"profile": f.id, "kind": "NetworkPolicy", "change": "Modified"})
		}).WithTimeout(timeout).Should(Equal(1.0))
		f.expectConverged(ctx, timeout)
		// The metric counts the repair before the status write that records it.
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(1))
		Eventually(func() []string { return profileEventsOf(ctx, f.id).reasons() }).WithTimeout(timeout).Should(ContainElement("DriftRepaired"))
	})
})
