package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/test/harness"
)

// argoCDManager is the field manager Argo CD's server-side apply uses.
const argoCDManager = "argocd-controller"

var _ = Describe("GitOps coexistence", func() {
	It("keeps Tierguard's labels while Argo CD re-applies the namespaces and the profile every second, without flapping", func(ctx SpecContext) {
		f := newFixture("gitops")
		specs := []nsSpec{{"dev-a", "dev"}, {"dev-b", "dev"}, {"test-a", "test"}, {"test-b", "test"}, {"prod-a", "prod"}, {"prod-b", "prod"}, {"ingress", ""}}
		// Argo CD's manifests: the namespaces with Git's labels only, and the profile.
		manifests := f.namespacesYAML(specs, map[string]string{"app.kubernetes.io/instance": "platform"}) + f.profileYAML()
		argoSync := func(ctx context.Context) {
			GinkgoHelper()
			_, err := kubectl.Quiet().RunWithInput(ctx, manifests, "apply", "--server-side", "--force-conflicts", "--field-manager="+argoCDManager, "-f", "-")
			Expect(err).NotTo(HaveOccurred())
		}
		argoSync(ctx)
		DeferCleanup(func(ctx SpecContext) {
			run(ctx, "delete", "segmentationprofile", f.id, "--ignore-not-found", "--timeout=60s")
		}, NodeTimeout(90*time.Second))
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)

		governed := []string{}
		for _, s := range specs {
			if s.env != "" {
				governed = append(governed, f.ns(s.name))
			}
		}
		namespaces := watchNamespaces(ctx, fixtureLabel+"="+f.id)
		policies := watchPolicies(ctx)
		began := time.Now()
		before := scrape(ctx, managers.mainManager())

		By("syncing like Argo CD, every second for 30 seconds, sampling the tier labels after each sync")
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for range 30 {
			argoSync(ctx)
			list := &corev1.NamespaceList{}
			Expect(k8s.List(ctx, list, client.MatchingLabels{fixtureLabel: f.id})).To(Succeed())
			for _, ns := range list.Items {
				if ns.Labels["env"] != "" {
					Expect(ns.Labels).To(HaveKey(f.key), "namespace %s lost its tier label after a sync", ns.Name)
				}
			}
			<-ticker.C
		}
		ended := time.Now()
		// Whatever Tierguard made of the last sync is done, and the watches
		// have delivered it.
		settle(ctx)
		namespaces.waitCaughtUp(ctx)
		policies.waitCaughtUp(ctx)
		nsEvents, polEvents := namespaces.stop(), policies.stop()
		after := scrape(ctx, managers.mainManager())

		By("seeing no policy change and no namespace without its tier label")
		var polChanges []string
		for _, e := range polEvents {
			if strings.HasPrefix(e.key, f.id+"-") {
				polChanges = append(polChanges, fmt.Sprintf("%s %s rv %s", e.typ, e.key, e.rv))
			}
		}
		Expect(polChanges).To(BeEmpty(), "policies changed during the syncs")
		nsChanges := 0
		for _, e := range nsEvents {
			if e.typ == watch.Modified {
				nsChanges++
			}
			if e.labels["env"] != "" {
				Expect(e.labels).To(HaveKey(f.key), "%s %s rv %s without its tier label", e.typ, e.key, e.rv)
			}
		}
		Expect(nsChanges).To(BeZero(), "namespaces changed during the syncs: a no-op apply must not write, nor may Tierguard")

		By("counting Tierguard's writes during the syncs")
		writes := stateWrites(harness.ManagerUser, began, ended)
		requests := nonGetRequests(after) - nonGetRequests(before)
		AddReportEntry("GitOps window", fmt.Sprintf("30 syncs: %d state writes by Tierguard (audit), %.0f non-GET requests (manager metrics), %d namespace changes, %d policy changes",
			len(writes), requests, nsChanges, len(polChanges)))
		// Nothing drifted, so nothing is written: not a label, not a
		// policy, not a status.
		Expect(writes).To(BeEmpty(), "Tierguard's writes while Argo CD synced:\n%s", describeEvents(writes))

		By("leaving the status untouched")
		p := f.profile(ctx)
		Expect(p.Status.Drift.Repairs).To(BeZero())
		Expect(condition(p, segv1.ConditionReady)).To(Equal("True/Enforced"))

		By("sharing each namespace's labels between the two field managers")
		ns := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: governed[0]}, ns)).To(Succeed())
		Expect(labelOwners(ns, "env")).To(ConsistOf(argoCDManager))
		Expect(labelOwners(ns, f.key)).To(ConsistOf(controller.FieldManager))
	})
})

// nonGetRequests sums the manager's client requests other than GET
// (client-go's rest_client_requests_total): its writes, events included.
func nonGetRequests(m harness.Metrics) float64 {
	total := m.Sum("rest_client_requests_total", nil)
	return total - m.Sum("rest_client_requests_total", map[string]string{"method": "GET"})
}

// labelOwners returns the field managers that own a label of obj.
func labelOwners(obj client.Object, label string) []string {
	var owners []string
	for _, e := range obj.GetManagedFields() {
		if e.FieldsV1 != nil && strings.Contains(e.FieldsV1.GetRawString(), `"f:`+label+`"`) {
			owners = append(owners, e.Manager)
		}
	}
	return owners
}
