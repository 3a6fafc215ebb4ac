package admission_test

import (
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/admission"
	"github.com/tierguard/tierguard/test/controlplane"
)

// TestUninstall runs on a control plane of its own with the garbage
// collector (etcd, kube-apiserver, kube-controller-manager), since it
// deletes the CRD and restarts the API server.
//
// protect-tier-labels takes SegmentationProfiles as params and fails
// closed. An API server that cannot resolve the paramKind refuses every
// namespace write instead of skipping the policy: right after it starts,
// before it has discovered the CRD (it rediscovers every 30 s), and for good
// once the CRD is deleted. The first is the price of never admitting a
// tenant's move unchecked; the second would block the cluster, so the
// manager makes the CRD the owner of the policy and its binding
// (internal/admission), and the garbage collector removes them with it.
func TestUninstall(t *testing.T) {
	RegisterTestingT(t)
	cp, err := controlplane.Start(ctx, controlplane.Options{Logf: t.Logf})
	Expect(err).NotTo(HaveOccurred())
	defer func() { Expect(cp.Stop()).To(Succeed()) }()
	admin, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	crd := &apiextensionsv1.CustomResourceDefinition{}
	Expect(decodeInto(repoPath("config", "crd", "bases", "segmentation.tierguard.io_segmentationprofiles.yaml"), crd)).To(Succeed())
	Expect(admin.Create(ctx, crd)).To(Succeed())
	Eventually(func() error { return admin.List(ctx, &segv1.SegmentationProfileList{}) }, "30s", "200ms").Should(Succeed())
	Expect(installPolicies(admin)).To(Succeed())
	Expect(admin.Create(ctx, namespaceAdminRole())).To(Succeed())
	Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-namespace-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "namespace-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"}},
	})).To(Succeed())
	aliceConfig, _, err := cp.UserConfig("alice", nil)
	Expect(err).NotTo(HaveOccurred())
	tenant := func() client.Client {
		c, err := client.New(rest.CopyConfig(aliceConfig), client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		return c
	}

	n, err := admission.Adopt(ctx, admin, []string{"protect-tier-labels"})
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(Equal(2), "the policy and its binding")
	n, err = admission.Adopt(ctx, admin, []string{"protect-tier-labels"})
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(BeZero(), "adopting twice changes nothing")

	Expect(admin.Create(ctx, companyProfile())).To(Succeed())
	Eventually(func() error { return createNS(tenant(), nsName(), map[string]string{"env": "prod"}) }, "60s", "250ms").
		Should(beDenied("label env ", "company", "alice"))
	governed := nsName()
	Expect(createNS(admin, governed, governedProd)).To(Succeed())

	// Right after a restart the tenant's move into prod is never admitted:
	// refused by the policy, or by the API server while it cannot resolve
	// the paramKind yet (fail closed).
	Expect(cp.RestartAPIServer(ctx)).To(Succeed())
	refusedAll := 0
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(500 * time.Millisecond) {
		err := createNS(tenant(), nsName(), map[string]string{"env": "prod"})
		// Refused by admission, not a connection error that would prove
		// nothing.
		Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(),
			"a tenant's namespace joined prod, or the request failed otherwise, %v after the API server started: %v", time.Since(start), err)
		if apierrors.IsForbidden(err) && !containsAll(err.Error(), "label env ", "company") {
			refusedAll++ // the paramKind is not resolved yet: every namespace write is refused
		}
	}
	t.Logf("after the restart: %d of the tenant's attempts were refused before the paramKind was resolved", refusedAll)

	deleted := time.Now()
	Expect(admin.Delete(ctx, crd)).To(Succeed())
	for _, obj := range []client.Object{&admissionregistrationv1.ValidatingAdmissionPolicy{}, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}} {
		Eventually(func() bool {
			return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKey{Name: "protect-tier-labels"}, obj))
		}, "60s", "200ms").Should(BeTrue(), "the garbage collector removes %T with the CRD", obj)
	}
	t.Logf("the policy and its binding were collected %v after the CRD's deletion", time.Since(deleted).Round(time.Millisecond))

	// expectNamespacesWork checks, as the tenant, that namespaces can be
	// created and labelled (selector labels included: no profile is left),
	// and that the tier label cannot be forged (protect-reserved-labels).
	expectNamespacesWork := func(since time.Time, when string) {
		t.Helper()
		Eventually(func() error {
			ns := nsName()
			if err := createNS(tenant(), ns, map[string]string{"env": "prod"}); err != nil {
				return err
			}
			if err := label(tenant(), ns, map[string]any{"owner": "a", "env": "dev"}); err != nil {
				return err
			}
			return label(tenant(), governed, map[string]any{"env": "test", psaKey: "privileged"})
		}, 30*time.Second-time.Since(since), "250ms").Should(Succeed(), when)
		t.Logf("%s: namespace create and label work %v after %s", when, time.Since(since).Round(time.Millisecond), when)
		Expect(label(tenant(), governed, map[string]any{tierKey: "dev"})).To(beDenied("label "+tierKey+" is reserved", "", "alice"), when)
		Expect(createNS(tenant(), nsName(), map[string]string{tierKey: "prod"})).To(beDenied("label "+tierKey+" is reserved", "", "alice"), when)
	}
	expectNamespacesWork(deleted, "deleting the CRD")

	// An API server that starts without the CRD, such as after an upgrade
	// or on another control-plane node.
	Expect(cp.RestartAPIServer(ctx)).To(Succeed())
	expectNamespacesWork(time.Now(), "restarting the API server")
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// decodeInto decodes the single YAML document of path into obj.
func decodeInto(path string, obj any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, obj)
}
