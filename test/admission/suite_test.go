// Package admission_test proves, against the real kube-apiserver, that the
// ValidatingAdmissionPolicy in config/admission-policy keeps tier labels
// unforgeable while letting everything else through.
package admission_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

const managerUser = "system:serviceaccount:tierguard-system:tierguard-controller-manager"

var (
	testEnv *envtest.Environment
	scheme  = runtime.NewScheme()
	ctx     = context.Background()
	admin   client.Client
	// alice administers namespaces (a namespace-admin ClusterRole that may
	// create and label namespaces); bob is in the break-glass group; manager
	// is Tierguard's service account.
	alice, bob, manager client.Client
)

func TestAdmission(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Admission Policy Suite")
}

var _ = BeforeSuite(func() {
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is unset: run the tests with 'make test', which builds the control plane with 'make envtest-assets'")
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	applyFile(filepath.Join("..", "..", "config", "admission-policy", "protect_tier_labels.yaml"))
	applyFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	Expect(admin.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-admin"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch"}}},
	})).To(Succeed())

	alice = userClient(envtest.User{Name: "alice", Groups: []string{"team-a"}}, "namespace-admin")
	bob = userClient(envtest.User{Name: "bob", Groups: []string{"tierguard:break-glass"}}, "namespace-admin")
	manager = userClient(envtest.User{Name: managerUser}, "manager-role")
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// userClient returns a client authenticated as user, bound to clusterRole.
func userClient(user envtest.User, clusterRole string) client.Client {
	au, err := testEnv.AddUser(user, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user.Name + "-" + clusterRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user.Name}},
	})).To(Succeed())
	c, err := client.New(au.Config(), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// applyFile creates every object of a multi-document YAML file.
func applyFile(path string) {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			Expect(err).NotTo(HaveOccurred())
		}
		if len(u.Object) == 0 {
			continue
		}
		Expect(admin.Create(ctx, u)).To(Succeed(), "create %s %s", u.GetKind(), u.GetName())
	}
}
