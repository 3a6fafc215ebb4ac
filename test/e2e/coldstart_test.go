package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/internal/render"
)

// coldStartNamespaces is the size of the cluster the manager starts into.
const coldStartNamespaces = 200

// interruptedApplyIsNotDrift names a regression this file guards against (found by
// the suite, fixed in the controller by da0c644): a manager killed between
// applying a namespace's labels and its policy left the namespace labelled
// with its tier but without a policy, and the next manager took that for a
// policy someone deleted, reporting drift (status.drift, DriftRepaired
// warnings, tierguard_drift_repairs_total) for a deletion nobody made. A
// first apply, however interrupted, is not drift.
const interruptedApplyIsNotDrift = "an interrupted first apply must not be reported as drift"

var _ = Describe("A manager killed with SIGKILL during a cold start", func() {
	It("converges once restarted, with no duplicate or stray objects", func(ctx SpecContext) {
		managers.stopMain()
		DeferCleanup(func(ctx SpecContext) { managers.ensureMain(ctx) }, NodeTimeout(time.Minute))

		f := newFixture("coldstart")
		tiers := []string{"dev", "test", "prod"}
		var specs []nsSpec
		for i := range coldStartNamespaces {
			specs = append(specs, nsSpec{fmt.Sprintf("ns-%03d", i), tiers[i%3]})
		}
		_, err := kubectl.Quiet().RunWithInput(ctx, f.namespacesYAML(specs, nil), "apply", "--server-side", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		f.applyProfile(ctx)

		policies := watchPolicies(ctx)
		written := func() int {
			seen := map[string]bool{}
			for _, e := range policies.snapshot() {
				if strings.HasPrefix(e.key, f.id+"-") {
					seen[e.key] = e.typ != watch.Deleted
				}
			}
			n := 0
			for _, exists := range seen {
				if exists {
					n++
				}
			}
			return n
		}

		By("killing the manager each time it has written a few dozen more policies")
		rng := rand.New(rand.NewPCG(uint64(GinkgoRandomSeed()), 7))
		var progress []int
		for i := 1; i <= 4 && written() < coldStartNamespaces; i++ {
			m := managers.start(ctx, fmt.Sprintf("coldstart-%d", i), managerKubeconfig, false)
			target := written() + 10 + rng.IntN(40)
			Eventually(written).WithTimeout(time.Minute).WithPolling(20*time.Millisecond).Should(
				BeNumerically(">=", min(target, coldStartNamespaces)), "manager %s makes progress", m.Name)
			Expect(m.Kill()).To(Succeed())
			progress = append(progress, written())
		}
		AddReportEntry("Cold start", fmt.Sprintf("policies written when each manager was killed: %v of %d", progress, coldStartNamespaces))
		Expect(progress[0]).To(BeNumerically("<", coldStartNamespaces), "the first kill interrupts the cold start")

		By("restarting the manager for good")
		managers.ensureMain(ctx)
		f.expectConverged(ctx, 2*time.Minute)
		pols, err := managedPolicies(ctx, f.id)
		Expect(err).NotTo(HaveOccurred())
		Expect(pols).To(HaveLen(coldStartNamespaces), "one policy per namespace, no more")
		for _, pol := range pols {
			Expect(pol.Name).To(Equal(render.PolicyName))
			Expect(pol.OwnerReferences).To(HaveLen(1))
		}

		By("reporting an interrupted first apply as no drift")
		deleted := map[string]bool{}
		for _, e := range policies.stop() {
			if e.typ == watch.Deleted {
				deleted[e.key] = true
			}
		}
		p := f.profile(ctx)
		var phantom []string
		for _, rec := range p.Status.Drift.Recent {
			if !deleted[rec.Namespace+"/"+rec.Name] {
				phantom = append(phantom, fmt.Sprintf("%s %s/%s %s", rec.Kind, rec.Namespace, rec.Name, rec.Change))
			}
		}
		Expect(phantom).To(BeEmpty(), interruptedApplyIsNotDrift+": drift records of policies that were never created before the restart")
		Expect(p.Status.Drift.Repairs).To(BeZero(), "repairs after a cold start nobody interfered with")
	})

	// The state a kill between the two writes leaves, made on purpose: the
	// namespace's labels applied by Tierguard's field manager, its policy
	// never created. (Random kills above hit it in most runs.)
	It("finishes a first apply cut between labels and policy without reporting drift", func(ctx SpecContext) {
		managers.stopMain()
		DeferCleanup(func(ctx SpecContext) { managers.ensureMain(ctx) }, NodeTimeout(time.Minute))
		f := newFixture("halfapplied")
		f.createNamespaces(ctx, nsSpec{"dev-a", "dev"}, nsSpec{"ingress", ""}, nsSpec{"legacy", ""})
		f.applyProfile(ctx)
		runWithInput(ctx, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {%q: dev, %q: %s, %q: baseline}\n",
			f.ns("dev-a"), f.key, render.ProfileLabel, f.id, psaLabel),
			"apply", "--server-side", "--field-manager="+controller.FieldManager, "-f", "-")

		managers.ensureMain(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
		p := f.profile(ctx)
		Expect(p.Status.Drift.Recent).To(BeEmpty(), interruptedApplyIsNotDrift)
		Expect(p.Status.Drift.Repairs).To(BeZero(), interruptedApplyIsNotDrift)
		Expect(profileEventsOf(ctx, f.id).reasons()).NotTo(ContainElement("DriftRepaired"), interruptedApplyIsNotDrift)
	})
})
