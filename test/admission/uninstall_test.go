package admission_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestUninstall deletes the CRD while both policies stay installed, on a
// control plane of its own (it runs after the suite). Namespace writes must
// work again within 30 seconds, on the running API server and on one
// started afterwards, while segmentation.tierguard.io/tier stays protected.
// It also shows why protect-tier-labels has failurePolicy Ignore: the same
// policy with Fail, even behind a matchCondition that never matches, refuses
// every namespace write once its paramKind is gone. And it logs what Ignore
// gives up: whether protect-tier-labels applied right after a restart.
func TestUninstall(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is unset: run the tests with 'make test', which builds the control plane with 'make envtest-assets'")
	}
	RegisterTestingT(t)
	env := newEnv()
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	defer func() { Expect(env.Stop()).To(Succeed()) }()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(installPolicies(c)).To(Succeed())
	Expect(c.Create(ctx, namespaceAdminRole())).To(Succeed())
	tenant := userClient(env, c, envtest.User{Name: "alice"}, "namespace-admin")
	Expect(c.Create(ctx, companyProfile())).To(Succeed())
	Eventually(func() error { return createNS(tenant, nsName(), map[string]string{"env": "prod"}) }, "60s", "250ms").
		Should(beDenied("label env ", "company", "alice"))
	governed := nsName()
	Expect(createNS(c, governed, governedProd)).To(Succeed())

	// Right after an API server starts, protect-tier-labels may not apply
	// yet: if it compiled the policy before the CRD was discovered, the
	// paramKind stays unresolved until its discovery RESTMapper is reset
	// (every 30 s). The reserved labels are protected all along.
	c, tenant = restartAPIServer(env, c)
	Expect(label(tenant, governed, map[string]any{tierKey: "dev"})).To(beDenied("label "+tierKey, "company", "alice"))
	if err := createNS(tenant, nsName(), map[string]string{"env": "prod"}); err == nil {
		t.Logf("right after the restart, protect-tier-labels did not apply yet (paramKind not resolved)")
	} else {
		Expect(err).To(beDenied("label env ", "company", "alice"))
		t.Logf("right after the restart, protect-tier-labels applied")
	}

	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "segmentationprofiles.segmentation.tierguard.io"}}
	deleted := time.Now()
	Expect(c.Delete(ctx, crd)).To(Succeed())
	Eventually(func() bool { return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(crd), crd)) }, "30s", "100ms").Should(BeTrue())
	t.Logf("CRD gone %v after its deletion", time.Since(deleted).Round(time.Millisecond))

	// expectNamespacesWork checks, as tenant, that namespaces can be
	// created and labelled (selector labels included: no profile is left),
	// and that the tier label cannot be forged.
	expectNamespacesWork := func(tenant client.Client, since time.Time, when string) {
		t.Helper()
		Eventually(func() error {
			ns := nsName()
			if err := createNS(tenant, ns, map[string]string{"env": "prod"}); err != nil {
				return err
			}
			if err := label(tenant, ns, map[string]any{"owner": "a", "env": "dev"}); err != nil {
				return err
			}
			return label(tenant, governed, map[string]any{"env": "test", psaKey: "privileged"})
		}, 30*time.Second-time.Since(since), "250ms").Should(Succeed(), when)
		t.Logf("%s: namespace create and label work %v after %s", when, time.Since(since).Round(time.Millisecond), when)
		Expect(label(tenant, governed, map[string]any{tierKey: "dev"})).To(beDenied("label "+tierKey+" is reserved", "company", "alice"), when)
		Expect(createNS(tenant, nsName(), map[string]string{tierKey: "prod"})).To(beDenied("label "+tierKey+" is reserved", "", "alice"), when)
	}
	expectNamespacesWork(tenant, deleted, "deleting the CRD")

	// An API server that starts without the CRD, such as after an upgrade
	// or on another control-plane node.
	started := time.Now()
	c, tenant = restartAPIServer(env, c)
	expectNamespacesWork(tenant, started, "restarting the API server")

	// The same policy with failurePolicy Fail and a matchCondition that
	// never matches: the unresolvable paramKind is a configuration error,
	// refused before the matchCondition is evaluated.
	policy, binding := &unstructured.Unstructured{}, &unstructured.Unstructured{}
	Expect(decodeFile(repoPath("config", "admission-policy", "protect_tier_labels.yaml"), policy, binding)).To(Succeed())
	for _, o := range []*unstructured.Unstructured{policy, binding} {
		o.SetName("fail-variant")
		o.SetResourceVersion("")
	}
	Expect(unstructured.SetNestedField(policy.Object, "Fail", "spec", "failurePolicy")).To(Succeed())
	Expect(unstructured.SetNestedSlice(policy.Object, []any{map[string]any{"name": "never", "expression": "false"}},
		"spec", "matchConditions")).To(Succeed())
	Expect(unstructured.SetNestedField(binding.Object, "fail-variant", "spec", "policyName")).To(Succeed())
	Expect(c.Create(ctx, policy)).To(Succeed())
	Expect(c.Create(ctx, binding)).To(Succeed())
	Eventually(func() error { return createNS(c, nsName(), nil) }, "30s", "250ms").
		Should(MatchError(ContainSubstring("failed to find resource referenced by paramKind")))
	Expect(label(c, governed, map[string]any{"owner": "b"})).To(MatchError(ContainSubstring("failed to configure policy")))
	Expect(c.Delete(ctx, binding)).To(Succeed())
	Eventually(func() error { return createNS(c, nsName(), nil) }, "30s", "250ms").Should(Succeed())
}

// restartAPIServer restarts kube-apiserver (its serving CA changes) and
// returns new clients for a cluster administrator and alice.
func restartAPIServer(env *envtest.Environment, c client.Client) (admin, alice client.Client) {
	Expect(env.ControlPlane.APIServer.Stop()).To(Succeed())
	Expect(env.ControlPlane.APIServer.Start()).To(Succeed())
	admin = userClient(env, c, envtest.User{Name: "cluster-admin", Groups: []string{"system:masters"}})
	return admin, userClient(env, admin, envtest.User{Name: "alice"})
}

// decodeFile decodes the YAML documents of path into objs, in order.
func decodeFile(path string, objs ...*unstructured.Unstructured) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for _, o := range objs {
		if err := dec.Decode(&o.Object); err != nil {
			return err
		}
	}
	return nil
}
