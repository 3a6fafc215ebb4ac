package e2e_test

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

var _ = Describe("Enforcement by ClusterNetworkPolicy", func() {
	It("makes a namespace owner's allow-all no hole, and reports a foreign Admin policy that opens a boundary", func(ctx SpecContext) {
		f := newFixture("cnp")
		f.createNamespaces(ctx, standardNamespaces...)
		f.applyProfile(ctx)
		f.waitReady(ctx)

		// A namespace owner in prod allows everything in: with
		// NetworkPolicies (additive) that opens the boundary.
		allowAll := fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: %s}
spec:
  podSelector: {}
  ingress: [{}]
`, f.ns("prod-a"))
		_, err := kubectl.RunWithInput(ctx, allowAll, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Eventually(isolation(ctx, f), timeout, interval).Should(And(
			HavePrefix("False/LeaksFound"), ContainSubstring(f.ns("prod-a")+"/allow-all")))

		// The same cluster, the boundary enforced by ClusterNetworkPolicies:
		// Tierguard's Admin-tier Deny comes before every NetworkPolicy.
		_, err = kubectl.Run(ctx, "patch", "segmentationprofile", f.id, "--type=merge", "-p", `{"spec":{"enforcement":"ClusterNetworkPolicy"}}`)
		Expect(err).NotTo(HaveOccurred())
		Eventually(isolation(ctx, f), timeout, interval).Should(HavePrefix("True/NoLeaks"))
		f.waitReady(ctx)
		out, err := kubectl.Run(ctx, "get", "clusternetworkpolicies", "-l", "segmentation.tierguard.io/profile="+f.id, "-o", "name")
		Expect(err).NotTo(HaveOccurred())
		// dev, test, prod, and one pass policy per prod namespace.
		Expect(strings.Fields(out)).To(HaveLen(5))
		out, err = kubectl.Run(ctx, "get", "networkpolicies", "-A", "-l", "segmentation.tierguard.io/profile="+f.id, "-o", "name")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(out)).To(BeEmpty())

		// Another administrator's Admin policy, ahead of Tierguard's band,
		// accepts dev to prod: that opens the boundary, and is reported.
		foreign := fmt.Sprintf(`apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: %[1]s-dev-to-prod}
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces: {matchLabels: {%[2]s: %[1]s, env: prod}}
  ingress:
  - name: from-dev
    action: Accept
    from:
    - namespaces: {matchLabels: {%[2]s: %[1]s, env: dev}}
`, f.id, fixtureLabel)
		_, err = kubectl.RunWithInput(ctx, foreign, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_, err := kubectl.Run(ctx, "delete", "clusternetworkpolicy", f.id+"-dev-to-prod", "--ignore-not-found")
			Expect(err).NotTo(HaveOccurred())
		})
		Eventually(isolation(ctx, f), timeout, interval).Should(And(
			HavePrefix("False/LeaksFound"), ContainSubstring("ClusterNetworkPolicy/"+f.id+"-dev-to-prod")))
		p := f.profile(ctx)
		Expect(p.Status.Isolation.Leaks).To(ContainElement(And(
			HaveField("FromTier", "dev"), HaveField("To", f.ns("prod-a")), HaveField("Policy", "ClusterNetworkPolicy/"+f.id+"-dev-to-prod"))))
		for _, l := range p.Status.Isolation.Leaks {
			Expect(l.Policy).NotTo(HaveSuffix("/allow-all"), "the namespace owner's allow-all is no hole under ClusterNetworkPolicy enforcement")
		}

		_, err = kubectl.Run(ctx, "delete", "clusternetworkpolicy", f.id+"-dev-to-prod")
		Expect(err).NotTo(HaveOccurred())
		Eventually(isolation(ctx, f), timeout, interval).Should(HavePrefix("True/NoLeaks"))
	})
})

// isolation returns "Status/Reason: message" of the profile's
// IsolationVerified condition.
func isolation(ctx context.Context, f *fixture) func() string {
	return func() string {
		p := &segv1.SegmentationProfile{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: f.id}, p); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionIsolationVerified)
		if c == nil || c.ObservedGeneration != p.Generation {
			return ""
		}
		return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
	}
}
