package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tierguard/tierguard/test/harness"
)

// warnings records the warnings the API server returns.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// kustomizeBuild returns the objects of a kustomization, as
// `kustomize build` (and `make build-installer`) does.
func kustomizeBuild(dir string) []*unstructured.Unstructured {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	Expect(err).NotTo(HaveOccurred())
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{}
		Expect(u.UnmarshalJSON(data)).To(Succeed())
		out = append(out, u)
	}
	return out
}

func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

func convert[T any](u *unstructured.Unstructured) *T {
	out := new(T)
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)).To(Succeed())
	return out
}

var _ = Describe("Installing config/default", Ordered, func() {
	var (
		objs       []*unstructured.Unstructured
		c          client.Client
		warn       = &warnings{}
		namespace  string
		deployment *appsv1.Deployment
	)

	BeforeAll(func() {
		objs = kustomizeBuild(filepath.Join(repo, "config", "default"))
		wcfg := rest.CopyConfig(cfg)
		wcfg.WarningHandlerWithContext = warn
		var err error
		c, err = harness.NewClient(wcfg)
		Expect(err).NotTo(HaveOccurred())

		deps := find(objs, "Deployment")
		Expect(deps).To(HaveLen(1))
		deployment = convert[appsv1.Deployment](deps[0])
		namespace = deployment.Namespace

		// The namespace and the service account exist for real: pods are
		// admitted only when their service account exists.
		for _, kind := range []string{"Namespace", "ServiceAccount"} {
			for _, u := range find(objs, kind) {
				Expect(c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
					client.FieldOwner("tierguard-install-test"), client.ForceOwnership)).To(Succeed(), "%s %s", kind, u.GetName())
			}
		}
		Expect(warn.take()).To(BeEmpty())
	})

	It("is accepted by kube-apiserver without warnings (server-side apply, dry run)", func() {
		kinds := map[string]int{}
		for _, u := range objs {
			kinds[u.GetKind()]++
			err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
				client.FieldOwner("tierguard-install-test"), client.ForceOwnership, client.DryRunAll)
			Expect(err).NotTo(HaveOccurred(), "%s %s", u.GetKind(), u.GetName())
			Expect(warn.take()).To(BeEmpty(), "warnings for %s %s", u.GetKind(), u.GetName())
		}
		for _, kind := range []string{"Namespace", "CustomResourceDefinition", "Deployment", "PodDisruptionBudget",
			"NetworkPolicy", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterRole", "Service"} {
			Expect(kinds).To(HaveKey(kind), "config/default installs no %s", kind)
		}
		GinkgoWriter.Printf("applied %d objects (dry run): %v\n", len(objs), kinds)
	})

	It("runs the manager as a pod the restricted Pod Security level admits", func() {
		ns := &corev1.Namespace{}
		Expect(c.Get(ctx, client.ObjectKey{Name: namespace}, ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))

		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: namespace, Labels: deployment.Spec.Template.Labels},
			Spec:       *deployment.Spec.Template.Spec.DeepCopy(),
		}
		Expect(c.Create(ctx, pod, client.DryRunAll)).To(Succeed())
		Expect(warn.take()).To(BeEmpty())

		// The same pod without its security context is refused: Pod
		// Security admission is enforcing in this API server.
		loose := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "loose", Namespace: namespace},
			Spec:       *deployment.Spec.Template.Spec.DeepCopy(),
		}
		loose.Spec.SecurityContext = nil
		for i := range loose.Spec.Containers {
			loose.Spec.Containers[i].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}
		}
		err := c.Create(ctx, loose, client.DryRunAll)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted`))
		warn.take()

		// A Deployment with that pod template is admitted with a warning:
		// the check above for no warnings can see them.
		looseDeployment := deployment.DeepCopy()
		looseDeployment.Name = "loose"
		looseDeployment.Spec.Template.Spec = loose.Spec
		Expect(c.Create(ctx, looseDeployment, client.DryRunAll)).To(Succeed())
		Expect(warn.take()).To(ContainElement(ContainSubstring(`would violate PodSecurity "restricted`)))
	})

	It("keeps two replicas with leader election, probes and resource limits, and a PodDisruptionBudget", func() {
		Expect(deployment.Spec.Replicas).To(Equal(ptr.To[int32](2)))
		manager := deployment.Spec.Template.Spec.Containers[0]
		Expect(manager.Args).To(ContainElement("--leader-elect"))
		Expect(manager.LivenessProbe).NotTo(BeNil())
		Expect(manager.ReadinessProbe).NotTo(BeNil())
		Expect(manager.Resources.Requests.Memory().String()).To(Equal("128Mi"))
		Expect(manager.Resources.Limits.Memory().String()).To(Equal("384Mi"))
		Expect(manager.SecurityContext.ReadOnlyRootFilesystem).To(Equal(ptr.To(true)))
		Expect(deployment.Spec.Template.Spec.SecurityContext.RunAsUser).To(Equal(ptr.To[int64](65532)))

		pdbs := find(objs, "PodDisruptionBudget")
		Expect(pdbs).To(HaveLen(1))
		minAvailable, _, _ := unstructured.NestedFieldNoCopy(pdbs[0].Object, "spec", "minAvailable")
		Expect(minAvailable).To(BeEquivalentTo(1))
		selector, _, _ := unstructured.NestedStringMap(pdbs[0].Object, "spec", "selector", "matchLabels")
		Expect(deployment.Spec.Template.Labels).To(Equal(selector))
	})

	It("isolates the namespace: default deny, egress to the API server and DNS, metrics ingress from monitoring", func() {
		policies := find(objs, "NetworkPolicy")
		Expect(policies).To(HaveLen(3))
		var denyAll, egress, metrics bool
		for _, u := range policies {
			Expect(u.GetNamespace()).To(Equal(namespace))
			np := u.Object["spec"].(map[string]any)
			sel := np["podSelector"].(map[string]any)
			types := fmt.Sprint(np["policyTypes"])
			switch {
			case len(sel) == 0 && types == "[Ingress Egress]" && np["ingress"] == nil && np["egress"] == nil:
				denyAll = true
			case strings.Contains(fmt.Sprint(np["egress"]), "6443"):
				egress = strings.Contains(fmt.Sprint(np["egress"]), "port:443") && strings.Contains(fmt.Sprint(np["egress"]), "port:53")
			case strings.Contains(fmt.Sprint(np["ingress"]), "8443"):
				in := fmt.Sprint(np["ingress"])
				metrics = strings.Contains(in, "metrics:enabled") && strings.Contains(in, "kubernetes.io/metadata.name:monitoring")
			}
		}
		Expect(denyAll).To(BeTrue(), "no default-deny policy")
		Expect(egress).To(BeTrue(), "no egress policy for 443/6443 and DNS")
		Expect(metrics).To(BeTrue(), "no metrics ingress policy")
	})

	It("authorizes tier membership by RBAC (the verb assign), naming no account or group", func() {
		vaps := find(objs, "ValidatingAdmissionPolicy")
		Expect(vaps).To(HaveLen(2))
		names := []string{}
		for _, vap := range vaps {
			Expect(vap.GetNamespace()).To(BeEmpty(), "a cluster-scoped object must not carry a namespace")
			names = append(names, vap.GetName())
			policy, _, _ := unstructured.NestedString(vap.Object, "spec", "failurePolicy")
			Expect(policy).To(Equal("Fail"), "%s must fail closed", vap.GetName())
			data, err := json.Marshal(vap.Object["spec"])
			Expect(err).NotTo(HaveOccurred())
			Expect(string(data)).To(ContainSubstring(`check('assign')`), "%s does not ask the authorizer", vap.GetName())
			Expect(string(data)).NotTo(ContainSubstring("system:serviceaccount:"), "%s names an account", vap.GetName())
			Expect(string(data)).NotTo(ContainSubstring("userInfo.groups"), "%s trusts a group by name", vap.GetName())
		}
		Expect(names).To(ConsistOf("tierguard-protect-tier-labels", "tierguard-protect-reserved-labels"))
		Expect(find(objs, "ValidatingAdmissionPolicyBinding")).To(HaveLen(2))

		var assigner bool
		for _, r := range find(objs, "ClusterRole") {
			if r.GetName() == "tierguard-namespace-assigner" {
				assigner = true
			}
		}
		Expect(assigner).To(BeTrue(), "config/default installs the ClusterRole tierguard-namespace-assigner")
	})
})
