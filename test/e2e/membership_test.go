package e2e_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/admission"
	"github.com/tierguard/tierguard/test/harness"
)

// Membership by RBAC, with config/default's admission policies and the
// manager running as its ServiceAccount: a tenant who may label namespaces
// cannot move one between tiers, an assigner can, and Tierguard enforces
// and records what the assigner did.
var _ = Describe("Tier membership", func() {
	It("is decided by the verb assign, enforced by the manager and recorded", func(ctx SpecContext) {
		const tenant, assigner = "e2e-tenant", "e2e-assigner"
		for _, args := range [][]string{
			{"create", "clusterrole", "e2e-namespace-labeller", "--verb=get,list,create,patch,update", "--resource=namespaces"},
			{"create", "clusterrolebinding", tenant, "--clusterrole=e2e-namespace-labeller", "--user=" + tenant},
			{"create", "clusterrolebinding", assigner, "--clusterrole=e2e-namespace-labeller", "--user=" + assigner},
			{"create", "clusterrolebinding", assigner + "-assign", "--clusterrole=tierguard-namespace-assigner", "--user=" + assigner},
		} {
			_, err := kubectl.Run(ctx, args...)
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(harness.WaitCanI(ctx, kubectl, tenant, "patch", "namespaces", "")).To(Succeed())
		Expect(harness.WaitCanI(ctx, kubectl, assigner, "assign", "segmentationprofiles.segmentation.tierguard.io", "")).To(Succeed())

		By("the manager making the CRD the owner of the policy, so uninstalling never blocks the cluster")
		for _, obj := range []client.Object{&admissionregistrationv1.ValidatingAdmissionPolicy{}, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}} {
			Eventually(func(ctx context.Context) []string {
				if err := k8s.Get(ctx, client.ObjectKey{Name: "tierguard-protect-tier-labels"}, obj); err != nil {
					return nil
				}
				var owners []string
				for _, ref := range obj.GetOwnerReferences() {
					owners = append(owners, ref.Kind+"/"+ref.Name)
				}
				return owners
			}).WithContext(ctx).WithTimeout(timeout).WithPolling(interval).Should(ContainElement("CustomResourceDefinition/" + admission.CRDName))
		}

		f := newFixture("membership")
		f.createNamespaces(ctx, nsSpec{"dev-a", "dev"}, nsSpec{"prod-a", "prod"}, nsSpec{"app", "dev"})
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)

		By("a tenant moving a namespace to prod: refused by the API server")
		out, err := kubectl.Run(ctx, "label", "namespace", f.ns("app"), "env=prod", "--overwrite", "--as="+tenant)
		Expect(err).To(HaveOccurred(), "the tenant moved a namespace into prod: %s", out)
		Expect(err.Error()).To(And(ContainSubstring("label env"), ContainSubstring(f.id), ContainSubstring(tenant),
			ContainSubstring("assign")))
		By("a tenant lowering prod's Pod Security level or forging the tier label: refused")
		_, err = kubectl.Run(ctx, "label", "namespace", f.ns("prod-a"), psaLabel+"=privileged", "--overwrite", "--as="+tenant)
		Expect(err).To(HaveOccurred())
		_, err = kubectl.Run(ctx, "label", "namespace", f.ns("app"), f.key+"=prod", "--overwrite", "--as="+tenant)
		Expect(err).To(HaveOccurred())

		By("an assigner moving it: allowed, enforced by the manager and recorded with who moved it")
		_, err = kubectl.Run(ctx, "label", "namespace", f.ns("app"), "env=prod", "--overwrite", "--as="+assigner)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(ctx context.Context) map[string]string { return nsLabels(ctx, f.ns("app")) }).WithContext(ctx).
			WithTimeout(timeout).WithPolling(interval).Should(And(HaveKeyWithValue(f.key, "prod"), HaveKeyWithValue(psaLabel, "restricted")))
		f.expectConverged(ctx, timeout)
		Eventually(func(ctx context.Context) []segv1.MembershipChange { return f.profile(ctx).Status.Membership.Recent }).WithContext(ctx).
			WithTimeout(timeout).WithPolling(interval).Should(ContainElement(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(f.ns("app")), "From": Equal("dev"), "To": Equal("prod"),
			"Action": Equal(segv1.MembershipMoved), "Manager": Equal("kubectl-label")})))
	})
})
