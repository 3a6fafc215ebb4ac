package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/dataplane"
)

const (
	systemNamespace = "tierguard-system"
	deployment      = "tierguard-controller-manager"
	leaseName       = "tierguard.segmentation.tierguard.io"
	sampleProfile   = "company"
	sampleFile      = "config/samples/segmentation_v1alpha1_segmentationprofile.yaml"
	tierLabel       = "segmentation.tierguard.io/tier"
)

// matrixNamespaces have the shape of the sample profile's cluster: dev
// (sandbox by name, dev-a by label), test, prod (isolated by namespace), the
// shared ingress-nginx, and legacy, excluded although its label matches dev.
var matrixNamespaces = []struct {
	name   string
	labels map[string]string
}{
	{"sandbox", nil},
	{"dev-a", map[string]string{"env": "dev"}},
	{"test-a", map[string]string{"env": "test"}},
	{"prod-a", map[string]string{"env": "prod"}},
	{"prod-b", map[string]string{"env": "prod"}},
	{"ingress-nginx", nil},
	{"legacy", map[string]string{"env": "dev"}},
}

func matrixNames() []string {
	var names []string
	for _, ns := range matrixNamespaces {
		names = append(names, ns.name)
	}
	return names
}

// sampleIntent is what the sample profile declares for matrixNamespaces,
// written out by hand from the YAML, not from Tierguard's rendering.
func sampleIntent() dataplane.Model {
	return dataplane.Model{
		Tiers:             map[string]string{"sandbox": "dev", "dev-a": "dev", "test-a": "test", "prod-a": "prod", "prod-b": "prod"},
		NamespaceIsolated: map[string]bool{"prod": true},
		Shared:            map[string]bool{"ingress-nginx": true},
		Flows:             []dataplane.Flow{{From: "dev", To: "test", Ports: []dataplane.Port{flowPort}}},
	}
}

var _ = Describe("Tierguard installed as users install it, on a real node", Ordered, func() {
	var ips map[string]string

	BeforeAll(func(ctx SpecContext) {
		// make deploy records IMG in config/manager/kustomization.yaml, as
		// the README says; the repository's copy is put back afterwards.
		kustomization := filepath.Join(repoRoot, "config", "manager", "kustomization.yaml")
		saved, err := os.ReadFile(kustomization)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() error { return os.WriteFile(kustomization, saved, 0o644) })

		By("starting a probe pod in every namespace, before Tierguard exists")
		var pods []*corev1.Pod
		for _, ns := range matrixNamespaces {
			createNamespace(ctx, ns.name, ns.labels)
			pods = append(pods, serverPod(ns.name))
		}
		ips = startPods(ctx, pods...)
	})

	It("measures every cell open between real pods before Tierguard is installed", func(ctx SpecContext) {
		all := dataplane.NewMatrix(matrixNames(), allPorts, func(dataplane.Cell) bool { return true })
		show("Baseline, no Tierguard", expectMatrix(ctx, matrixNames(), ips, all))
	})

	It("deploys with make deploy: the kubelet admits the manager under restricted Pod Security and its probes make it Ready", func(ctx SpecContext) {
		start := time.Now()
		makeTarget(ctx, "deploy", "IMG="+managerImage)
		kube(ctx, "-n", systemNamespace, "rollout", "status", "deployment/"+deployment, "--timeout=3m")
		report("make deploy to two Ready replicas", time.Since(start))

		ns := &corev1.Namespace{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Name: systemNamespace}, ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		pods := managerPods(ctx)
		Expect(pods).To(HaveLen(2))
		for _, p := range pods {
			Expect(p.Spec.Containers[0].Image).To(Equal(managerImage))
			Expect(podReady(&p)).To(BeTrue())
			Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeZero(), "pod %s restarted", p.Name)
		}
		By("refusing, in the same namespace, a pod that breaks the restricted level (the level is really enforced)")
		bad := probePod(systemNamespace, "", "serve", "--name", "x", "--tcp", "8080")
		bad.Spec.Containers[0].SecurityContext.Capabilities = nil
		err := bed.Client.Create(ctx, bad)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("restricted"))
	})

	It("elects one leader among the two replicas and hands over when the leader's pod is deleted", func(ctx SpecContext) {
		var holder string
		Eventually(ctx, func() string { holder = leaseHolder(ctx); return holder }).WithTimeout(time.Minute).ShouldNot(BeEmpty())
		pods := managerPods(ctx)
		var leader string
		for _, p := range pods {
			if strings.HasPrefix(holder, p.Name+"_") {
				leader = p.Name
			}
		}
		Expect(leader).NotTo(BeEmpty(), "lease holder %q is none of the pods", holder)

		start := time.Now()
		kube(ctx, "-n", systemNamespace, "delete", "pod", leader, "--wait=false")
		var next string
		Eventually(ctx, func() string {
			h := leaseHolder(ctx)
			if h != "" && !strings.HasPrefix(h, leader+"_") {
				next = h
			}
			return next
		}).WithTimeout(2 * time.Minute).WithPolling(50 * time.Millisecond).ShouldNot(BeEmpty())
		report("Leader handover after the leader's pod is deleted", time.Since(start))
		kube(ctx, "-n", systemNamespace, "rollout", "status", "deployment/"+deployment, "--timeout=3m")
	})

	It("enforces config/network-policy with kube-router: the manager still reaches the API server, and /metrics answers only a bound reader", func(ctx SpecContext) {
		By("applying the sample profile: the manager reconciles it through the API server despite its default-deny")
		kube(ctx, "apply", "--server-side", "-f", filepath.Join(repoRoot, sampleFile))
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, sampleProfile, segv1.ConditionReady) }).
			WithTimeout(2 * time.Minute).Should(HaveField("Status", metav1.ConditionTrue))

		By("scraping /metrics through the Service over HTTPS from a namespace labelled metrics=enabled")
		createNamespace(ctx, "scraper", map[string]string{"metrics": "enabled"})
		createNamespace(ctx, "outsider", nil)
		kube(ctx, "-n", "scraper", "create", "serviceaccount", "reader")
		kube(ctx, "-n", "scraper", "create", "serviceaccount", "nobody")
		kube(ctx, "create", "clusterrolebinding", "bed-metrics-reader", "--clusterrole=tierguard-metrics-reader", "--serviceaccount=scraper:reader")
		reader := probePod("scraper", "reader", "serve", "--name", "reader", "--tcp", "8080")
		nobody := probePod("scraper", "nobody", "serve", "--name", "nobody", "--tcp", "8080")
		nobody.Name = "nobody"
		outsider := probePod("outsider", "", "serve", "--name", "outsider", "--tcp", "8080")
		startPods(ctx, reader, outsider)
		Expect(bed.Client.Create(ctx, nobody)).To(Succeed())
		Eventually(ctx, func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(bed.Client.Get(ctx, types.NamespacedName{Namespace: "scraper", Name: "nobody"}, p)).To(Succeed())
			g.Expect(podReady(p)).To(BeTrue())
		}).WithTimeout(2 * time.Minute).Should(Succeed())

		svc := &corev1.Service{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Namespace: systemNamespace, Name: deployment + "-metrics-service"}, svc)).To(Succeed())
		url := fmt.Sprintf("https://%s:8443/metrics", svc.Spec.ClusterIP)
		fetch := func(ns, pod string) (string, error) {
			return kubectl.Quiet().Run(ctx, "exec", "-n", ns, pod, "--", "/probe", "fetch", "--timeout", "3s",
				"--token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", url)
		}
		Eventually(ctx, func() (string, error) { return fetch("scraper", probePodName) }).
			WithTimeout(time.Minute).Should(HavePrefix("200 # HELP"))
		out, err := fetch("scraper", "nobody")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(HavePrefix("403"), "a token without tierguard-metrics-reader is refused")

		By("dropping the same scrape from a namespace config/network-policy does not admit")
		out, err = fetch("outsider", probePodName)
		Expect(err).To(HaveOccurred(), "the scrape from an unlabelled namespace got through: %s", out)
	})

	It("makes the sample profile's matrix between real pods equal its intent", func(ctx SpecContext) {
		show("Sample profile, Enforce", expectMatrix(ctx, matrixNames(), ips, sampleIntent().Matrix(matrixNames(), allPorts)))
		start := time.Now()
		measure(ctx, matrixNames(), ips)
		report(fmt.Sprintf("One matrix measurement (%d pods, %d cells, kubectl exec)", len(matrixNames()), len(matrixNames())*len(matrixNames())*len(allPorts)), time.Since(start))
	})

	It("reports and measures the hole a namespace owner's allow-all punches, and closes it when removed", func(ctx SpecContext) {
		allowAll := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "prod-a", Name: "allow-everything"},
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
			},
		}
		Expect(bed.Client.Create(ctx, allowAll)).To(Succeed())
		holed := dataplane.NewMatrix(matrixNames(), allPorts, func(c dataplane.Cell) bool {
			return c.To == "prod-a" || sampleIntent().Allows(c)
		})
		show("Sample profile with an allow-all NetworkPolicy in prod-a", expectMatrix(ctx, matrixNames(), ips, holed))
		Eventually(ctx, func() *metav1.Condition {
			return profileCondition(ctx, sampleProfile, segv1.ConditionIsolationVerified)
		}).
			WithTimeout(time.Minute).Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Message", ContainSubstring("allow-everything"))))

		Expect(bed.Client.Delete(ctx, allowAll)).To(Succeed())
		expectMatrix(ctx, matrixNames(), ips, sampleIntent().Matrix(matrixNames(), allPorts))
		Eventually(ctx, func() *metav1.Condition {
			return profileCondition(ctx, sampleProfile, segv1.ConditionIsolationVerified)
		}).
			WithTimeout(time.Minute).Should(HaveField("Status", metav1.ConditionTrue))
	})

	It("repairs a deleted policy while real traffic is probed: the exposure window between real pods", func(ctx SpecContext) {
		tgt := target(ips["test-a"], closedPort)
		w := startWatch("dev-a", tgt)
		DeferCleanup(func() error { return w.proc.Stop(5 * time.Second) })
		Eventually(ctx, func() int { return len(w.attempts(time.Now().Add(-time.Second))) }).WithTimeout(30 * time.Second).Should(BeNumerically(">", 10))

		var exposures []time.Duration
		for round := 0; round < 3; round++ {
			policies := &networkingv1.NetworkPolicyList{}
			Expect(bed.Client.List(ctx, policies)).To(Succeed())
			var victim *networkingv1.NetworkPolicy
			for i := range policies.Items {
				if policies.Items[i].Namespace == "test-a" && strings.HasPrefix(policies.Items[i].Name, "tierguard") {
					victim = &policies.Items[i]
				}
			}
			Expect(victim).NotTo(BeNil(), "Tierguard's policy in test-a")
			t0 := time.Now()
			Expect(bed.Client.Delete(ctx, victim)).To(Succeed())
			// Repaired: the policy is back and the cell stays closed for 2 s.
			Eventually(ctx, func() error {
				return bed.Client.Get(ctx, types.NamespacedName{Namespace: victim.Namespace, Name: victim.Name}, &networkingv1.NetworkPolicy{})
			}).WithTimeout(30 * time.Second).WithPolling(5 * time.Millisecond).Should(Succeed())
			repaired := time.Since(t0)
			Expect(harnessSleep(ctx, 2*time.Second)).To(Succeed())
			var lastOpen time.Time
			for _, a := range w.attempts(t0) {
				if a.Open {
					lastOpen = time.Unix(0, a.Start+a.Micros*1000)
				}
			}
			exposure := time.Duration(0)
			if !lastOpen.IsZero() {
				exposure = lastOpen.Sub(t0)
			}
			Expect(exposure).To(BeNumerically("<", 5*time.Second), "dev-a reached test-a:8080 for %s after the deletion", exposure)
			through := 0
			for _, a := range w.attempts(t0) {
				if a.Open {
					through++
				}
			}
			fmt.Printf("round %d: %d of %d attempts got through\n", round, through, len(w.attempts(t0)))
			recent := w.attempts(time.Now().Add(-time.Second))
			Expect(recent).NotTo(BeEmpty())
			for _, a := range recent {
				Expect(a.Open).To(BeFalse(), "dev-a reaches test-a:8080 again after the repair")
			}
			fmt.Printf("round %d: policy back after %s, traffic exposed for %s\n", round, repaired.Round(time.Millisecond), exposure.Round(time.Millisecond))
			exposures = append(exposures, exposure)
		}
		report("Exposure window after a policy deletion (worst of 3, real pods, 10 ms probes)", maxOf(exposures))

		By("relabelling dev-a's tier label to test (an admin's tampering): test-a's policy would admit it on 8080")
		exposures = nil
		for round := 0; round < 3; round++ {
			t0 := time.Now()
			kube(ctx, "label", "namespace", "dev-a", tierLabel+"=test", "--overwrite")
			Eventually(ctx, func() string {
				ns := &corev1.Namespace{}
				Expect(bed.Client.Get(ctx, types.NamespacedName{Name: "dev-a"}, ns)).To(Succeed())
				return ns.Labels[tierLabel]
			}).WithTimeout(30 * time.Second).WithPolling(5 * time.Millisecond).Should(Equal("dev"))
			repaired := time.Since(t0)
			Expect(harnessSleep(ctx, 2*time.Second)).To(Succeed())
			exposure, through, tried := exposureSince(w, t0)
			Expect(exposure).To(BeNumerically("<", 5*time.Second))
			recent := w.attempts(time.Now().Add(-time.Second))
			Expect(recent).NotTo(BeEmpty())
			Expect(slices.ContainsFunc(recent, func(a probeResult) bool { return a.Open })).To(BeFalse(), "dev-a reaches test-a:8080 after the label's repair")
			fmt.Printf("relabel round %d: label back after %s, traffic exposed for %s (%d of %d attempts through)\n",
				round, repaired.Round(time.Millisecond), exposure.Round(time.Millisecond), through, tried)
			exposures = append(exposures, exposure)
		}
		report("Exposure window after a tier label change (worst of 3, real pods, 10 ms probes)", maxOf(exposures))

		By("showing the probe sees a window when no manager repairs: the manager scaled to zero")
		kube(ctx, "-n", systemNamespace, "scale", "deployment/"+deployment, "--replicas=0")
		Eventually(ctx, func() []corev1.Pod { return allManagerPods(ctx) }).WithTimeout(time.Minute).Should(BeEmpty())
		Expect(bed.Client.DeleteAllOf(ctx, &networkingv1.NetworkPolicy{}, client.InNamespace("test-a"),
			client.MatchingLabels{"app.kubernetes.io/managed-by": "tierguard"})).To(Succeed())
		t0 := time.Now()
		var opened time.Time
		Eventually(ctx, func() bool {
			for _, a := range w.attempts(t0) {
				if a.Open {
					opened = time.Unix(0, a.Start)
					return true
				}
			}
			return false
		}).WithTimeout(30*time.Second).Should(BeTrue(), "with no manager, dev-a never reached test-a:8080 after the deletion: the probe sees nothing")
		report("Without a manager, a deleted policy's path opens after (kube-router sync)", opened.Sub(t0))

		kube(ctx, "-n", systemNamespace, "scale", "deployment/"+deployment, "--replicas=2")
		kube(ctx, "-n", systemNamespace, "rollout", "status", "deployment/"+deployment, "--timeout=3m")
		Eventually(ctx, func() bool {
			recent := w.attempts(time.Now().Add(-time.Second))
			return len(recent) > 0 && !slices.ContainsFunc(recent, func(a probeResult) bool { return a.Open })
		}).WithTimeout(time.Minute).Should(BeTrue(), "the restarted manager closes the path again")
	})

	It("refuses a tenant's forged tier labels with the admission policy of config/default", func(ctx SpecContext) {
		kube(ctx, "create", "clusterrole", "bed-namespace-labeller", "--verb=get,patch,update", "--resource=namespaces", "--resource-name=dev-a")
		kube(ctx, "create", "clusterrolebinding", "bed-namespace-labeller", "--clusterrole=bed-namespace-labeller", "--user=tenant")
		_, tenantKubeconfig, err := bed.Plane.UserConfig("tenant", nil)
		Expect(err).NotTo(HaveOccurred())
		tenant := kubectl.WithKubeconfig(tenantKubeconfig).Quiet()
		for _, label := range []string{"env=prod", tierLabel + "=prod"} {
			out, err := tenant.Run(ctx, "label", "namespace", "dev-a", label, "--overwrite")
			Expect(err).To(HaveOccurred(), "the tenant set %s: %s", label, out)
			Expect(err.Error()).To(And(ContainSubstring("ValidatingAdmissionPolicy 'tierguard-protect-"), ContainSubstring("denied request")))
		}
		out, err := tenant.Run(ctx, "label", "namespace", "dev-a", "team=payments")
		Expect(err).NotTo(HaveOccurred(), "an unrelated label is the tenant's to set: %s", out)
	})

	It("uninstalls with make undeploy, leaving no Tierguard object and no blocked namespace operation", func(ctx SpecContext) {
		kube(ctx, "delete", "segmentationprofiles", "--all", "--timeout=2m")
		makeTarget(ctx, "undeploy")
		Eventually(ctx, func() string {
			out, _ := kubectl.Quiet().Run(ctx, "get", "namespace", systemNamespace, "--ignore-not-found")
			return out
		}).WithTimeout(3 * time.Minute).Should(BeEmpty())
		expectNoTierguardObjects(ctx)
		namespaceOperationsWork(ctx)
	})

	It("installs and uninstalls from the single-file installer (make build-installer)", func(ctx SpecContext) {
		makeTarget(ctx, "build-installer", "IMG="+managerImage)
		installer := filepath.Join(repoRoot, "dist", "install.yaml")
		kube(ctx, "apply", "--server-side", "-f", installer)
		kube(ctx, "-n", systemNamespace, "rollout", "status", "deployment/"+deployment, "--timeout=3m")
		kube(ctx, "apply", "--server-side", "-f", filepath.Join(repoRoot, sampleFile))
		Eventually(ctx, func() *metav1.Condition { return profileCondition(ctx, sampleProfile, segv1.ConditionReady) }).
			WithTimeout(2 * time.Minute).Should(HaveField("Status", metav1.ConditionTrue))
		expectMatrix(ctx, matrixNames(), ips, sampleIntent().Matrix(matrixNames(), allPorts))
		kube(ctx, "delete", "segmentationprofiles", "--all", "--timeout=2m")
		kube(ctx, "delete", "--ignore-not-found", "--timeout=3m", "-f", installer)
		expectNoTierguardObjects(ctx)
		namespaceOperationsWork(ctx)
	})
})

// managerPods returns the manager's pods that are not being deleted.
func managerPods(ctx context.Context) []corev1.Pod {
	GinkgoHelper()
	var live []corev1.Pod
	for _, p := range allManagerPods(ctx) {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// allManagerPods returns the manager's pods, those being deleted included.
func allManagerPods(ctx context.Context) []corev1.Pod {
	GinkgoHelper()
	pods := &corev1.PodList{}
	Expect(bed.Client.List(ctx, pods, client.InNamespace(systemNamespace), client.MatchingLabels{"control-plane": "controller-manager"})).To(Succeed())
	return pods.Items
}

// leaseHolder returns the manager's leader-election lease holder, or "".
func leaseHolder(ctx context.Context) string {
	lease := &coordinationv1.Lease{}
	if err := bed.Client.Get(ctx, types.NamespacedName{Namespace: systemNamespace, Name: leaseName}, lease); err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// expectNoTierguardObjects fails when any object of Tierguard's remains:
// its CRD, cluster roles and bindings, admission policies and bindings,
// and NetworkPolicies it wrote.
func expectNoTierguardObjects(ctx context.Context) {
	GinkgoHelper()
	for _, kind := range []string{"customresourcedefinitions", "clusterroles", "clusterrolebindings", "validatingadmissionpolicies", "validatingadmissionpolicybindings"} {
		out := kube(ctx, "get", kind, "-o", "name")
		for _, l := range lines(out) {
			if strings.Contains(l, "tierguard") && !strings.Contains(l, "bed-") {
				Fail(fmt.Sprintf("%s left after uninstalling", l))
			}
		}
	}
	out := kube(ctx, "get", "networkpolicies", "-A", "-l", "app.kubernetes.io/managed-by=tierguard", "-o", "name")
	Expect(lines(out)).To(BeEmpty(), "NetworkPolicies written by Tierguard left after uninstalling")
}

// namespaceOperationsWork creates, labels and deletes a namespace: nothing
// Tierguard left (a finalizer, an admission policy without its params)
// blocks them.
func namespaceOperationsWork(ctx context.Context) {
	GinkgoHelper()
	kube(ctx, "create", "namespace", "after-uninstall")
	kube(ctx, "label", "namespace", "after-uninstall", "env=prod", tierLabel+"=prod")
	kube(ctx, "label", "namespace", "dev-a", "env=prod", "--overwrite")
	kube(ctx, "label", "namespace", "dev-a", "env=dev", "--overwrite")
	kube(ctx, "delete", "namespace", "after-uninstall", "--timeout=1m")
}
