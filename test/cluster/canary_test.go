package cluster_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/cluster"
)

// canaryProfile has two tiers whose only members are the canary's own
// namespaces, a flow alpha -> beta on TCP 443, and a canary every minute.
const canaryProfileYAML = `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata:
  name: canary
spec:
  tierLabelKey: canary.example/tier
  tiers:
  - name: alpha
    namespaces:
      selector:
        matchLabels: {canary-suite: alpha}
  - name: beta
    namespaces:
      selector:
        matchLabels: {canary-suite: beta}
  flows:
  - from: alpha
    to: beta
    ports:
    - {protocol: TCP, port: 443}
  canary:
    interval: 1m
`

var _ = Describe("The enforcement canary on a real node", Ordered, func() {
	const profile = "canary"
	enforcement := func(ctx context.Context) *metav1.Condition {
		return profileCondition(ctx, profile, segv1.ConditionEnforcementVerified)
	}
	canaryNamespaces := func(ctx context.Context) []string {
		list := &corev1.NamespaceList{}
		Expect(bed.Client.List(ctx, list, client.HasLabels{"segmentation.tierguard.io/canary"})).To(Succeed())
		var names []string
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
		return names
	}
	var ready time.Time

	BeforeAll(func(ctx SpecContext) {
		kustomization := filepath.Join(repoRoot, "config", "manager", "kustomization.yaml")
		saved, err := os.ReadFile(kustomization)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() error { return os.WriteFile(kustomization, saved, 0o644) })
		makeTarget(ctx, "deploy", "IMG="+managerImage)
		kube(ctx, "-n", systemNamespace, "rollout", "status", "deployment/"+deployment, "--timeout=3m")
		DeferCleanup(func(ctx SpecContext) {
			kube(ctx, "delete", "segmentationprofiles", "--all", "--timeout=2m")
			makeTarget(ctx, "undeploy")
		})
	})

	It("reports Enforced within one interval of Ready while kube-router enforces", func(ctx SpecContext) {
		_, err := kubectl.RunWithInput(ctx, canaryProfileYAML, "apply", "--server-side", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, profile, segv1.ConditionReady) }).
			WithTimeout(2 * time.Minute).Should(HaveField("Status", metav1.ConditionTrue))
		ready = time.Now()
		Eventually(ctx, enforcement).WithTimeout(2 * time.Minute).WithPolling(time.Second).
			Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", segv1.ReasonEnforced)))
		report("Canary: EnforcementVerified=True after Ready", time.Since(ready))
		Expect(canaryNamespaces(ctx)).To(ConsistOf("tg-canary-canary-alpha", "tg-canary-canary-beta", "tg-canary-canary-shared"))

		By("running the probe pods with no token, under the restricted level")
		pod := &corev1.Pod{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Namespace: "tg-canary-canary-beta", Name: "canary-server"}, pod)).To(Succeed())
		Expect(pod.Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		ns := &corev1.Namespace{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Name: "tg-canary-canary-beta"}, ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		Expect(pod.Spec.Containers[0].Image).To(Equal(managerImage))
	})

	// NetworkPolicies only add allowances, so a deny-all ingress policy
	// next to Tierguard's changes nothing; a deny-all egress policy in the
	// shared canary namespace (where Tierguard writes no egress rule) breaks
	// the paths the profile allows from it.
	It("reports Inconclusive when an allowed path is broken on purpose (a foreign deny-all egress in the shared canary namespace)", func(ctx SpecContext) {
		denyAll := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "tg-canary-canary-shared", Name: "deny-all-egress"},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
		}
		Expect(bed.Client.Create(ctx, denyAll)).To(Succeed())
		Eventually(ctx, enforcement).WithTimeout(3 * time.Minute).WithPolling(time.Second).
			Should(And(HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", segv1.ReasonInconclusive),
				HaveField("Message", ContainSubstring("shared ->"))))
		Expect(bed.Client.Delete(ctx, denyAll)).To(Succeed())
		Eventually(ctx, enforcement).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(HaveField("Status", metav1.ConditionTrue))
	})

	It("reports NotEnforced, naming a forbidden path, once kube-router stops and its chains are flushed, and Enforced once it is back", func(ctx SpecContext) {
		Expect(bed.StopPolicyEngine()).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(bed.StartPolicyEngine(ctx)).To(Succeed()) })
		stopped := time.Now()
		Eventually(ctx, enforcement).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", segv1.ReasonNotEnforced),
			HaveField("Message", ContainSubstring("your network plugin does not enforce NetworkPolicies")),
			HaveField("Message", ContainSubstring("which the profile forbids, from node tg-node"))))
		report("Canary: NotEnforced after the engine stopped", time.Since(stopped))
		events := kube(ctx, "get", "events", "-A", "--field-selector", "reason=NotEnforced", "-o", "name")
		Expect(lines(events)).NotTo(BeEmpty(), "a NotEnforced event")

		By("turning the canary off and on while nothing enforces: NotEnforced from the first round (the bridge CNI alone, like Flannel)")
		_, err := kubectl.Run(ctx, "patch", "segmentationprofile", profile, "--type=json", "-p", `[{"op":"remove","path":"/spec/canary"}]`)
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func() []string { return canaryNamespaces(ctx) }).WithTimeout(2 * time.Minute).Should(BeEmpty())
		Eventually(ctx, enforcement).WithTimeout(time.Minute).Should(BeNil(), "no condition while the canary is off")
		_, err = kubectl.Run(ctx, "patch", "segmentationprofile", profile, "--type=merge", "-p", `{"spec":{"canary":{"interval":"1m"}}}`)
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, enforcement).WithTimeout(3 * time.Minute).WithPolling(time.Second).
			Should(HaveField("Reason", segv1.ReasonNotEnforced))
		p := &segv1.SegmentationProfile{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Name: profile}, p)).To(Succeed())
		Expect(p.Status.Canary).NotTo(BeNil())
		Expect(p.Status.Canary.Rounds).To(HaveLen(1), "the first round found it")

		Expect(bed.StartPolicyEngine(ctx)).To(Succeed())
		started := time.Now()
		Eventually(ctx, enforcement).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(HaveField("Status", metav1.ConditionTrue))
		report("Canary: Enforced again after the engine restarted", time.Since(started))
	})

	It("removes the canary's namespaces and pods when the profile is deleted", func(ctx SpecContext) {
		kube(ctx, "delete", "segmentationprofile", profile, "--timeout=2m")
		Eventually(ctx, func() []string { return canaryNamespaces(ctx) }).WithTimeout(2 * time.Minute).Should(BeEmpty())
	})
})

// restartBed replaces the bed with a fresh one, with or without a policy
// engine, and imports the manager's image again.
func restartBed(ctx context.Context, noPolicyEngine bool) {
	GinkgoHelper()
	Expect(bed.Down()).To(Succeed())
	var err error
	bed, err = cluster.Up(ctx, cluster.Options{RepoRoot: repoRoot, NoPolicyEngine: noPolicyEngine,
		Logf: func(f string, a ...any) { GinkgoWriter.Printf(f+"\n", a...) }})
	Expect(err).NotTo(HaveOccurred())
	kubectl = bed.Plane.Kubectl()
	Expect(bed.ImportImage(ctx, filepath.Join(repoRoot, "bin", "image.tar"))).To(Succeed())
}

// The "Flannel" case: a bed whose CNI is the bridge plugin alone, with no
// policy engine ever started.
var _ = Describe("The enforcement canary on a node whose network plugin enforces nothing", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		restartBed(ctx, true)
		DeferCleanup(func(ctx SpecContext) { restartBed(ctx, false) })
		kustomization := filepath.Join(repoRoot, "config", "manager", "kustomization.yaml")
		saved, err := os.ReadFile(kustomization)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() error { return os.WriteFile(kustomization, saved, 0o644) })
		makeTarget(ctx, "deploy", "IMG="+managerImage)
		kube(ctx, "-n", systemNamespace, "rollout", "status", "deployment/"+deployment, "--timeout=3m")
	})

	It("reports NotEnforced from the first round, in words a person understands", func(ctx SpecContext) {
		_, err := kubectl.RunWithInput(ctx, canaryProfileYAML, "apply", "--server-side", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, "canary", segv1.ConditionEnforcementVerified) }).
			WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", segv1.ReasonNotEnforced),
			HaveField("Message", HavePrefix("your network plugin does not enforce NetworkPolicies"))))
		report("Canary with no policy engine: NotEnforced after the profile was applied", time.Since(start))
		p := &segv1.SegmentationProfile{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Name: "canary"}, p)).To(Succeed())
		Expect(p.Status.Canary.Rounds).To(HaveLen(1), "the first round found it")
		Expect(p.Status.Canary.LastVerifiedTime).To(BeNil())
	})
})
