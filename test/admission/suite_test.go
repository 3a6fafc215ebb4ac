// Package admission_test proves, against the real kube-apiserver, that the
// ValidatingAdmissionPolicies in config/admission-policy keep namespaces from
// changing tiers at a tenant's hand (labels, names, subresources) while
// letting everything else through, that the right to assign comes from RBAC
// (config/rbac), and that uninstalling the CRD never blocks the cluster.
package admission_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

var (
	testEnv *envtest.Environment
	scheme  = runtime.NewScheme()
	ctx     = context.Background()
	admin   client.Client
	// alice administers namespaces (a namespace-admin ClusterRole that may
	// create, update and patch namespaces and update their status and
	// finalize subresources); carol is a namespace administrator bound to the
	// namespace-assigner ClusterRole of config/rbac; dave is one bound to a
	// ClusterRole that may assign the profile "company" only; manager is
	// Tierguard's service account with config/rbac/role.yaml.
	alice, carol, dave, manager client.Client
)

func init() {
	// The tests assert on API state; the clients' logs are not needed.
	logf.SetLogger(logr.Discard())
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))
}

func TestAdmission(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Admission Policy Suite")
}

var _ = BeforeSuite(func() {
	env, err := harness.StartEnvtest()
	Expect(err).NotTo(HaveOccurred())
	testEnv = env.Environment
	admin, err = client.New(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	Expect(installPolicies(admin)).To(Succeed())
	Expect(applyFile(admin, repoPath("config", "rbac", "role.yaml"))).To(Succeed())
	Expect(applyFile(admin, repoPath("config", "rbac", "namespace_assigner_role.yaml"))).To(Succeed())
	Expect(admin.Create(ctx, namespaceAdminRole())).To(Succeed())
	Expect(admin.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "company-assigner"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{segv1.GroupVersion.Group}, Resources: []string{"segmentationprofiles"},
			ResourceNames: []string{"company"}, Verbs: []string{"assign"}}},
	})).To(Succeed())

	alice = userClient(testEnv, admin, envtest.User{Name: "alice", Groups: []string{"team-a"}}, "namespace-admin")
	carol = userClient(testEnv, admin, envtest.User{Name: "carol"}, "namespace-admin", "namespace-assigner")
	dave = userClient(testEnv, admin, envtest.User{Name: "dave"}, "namespace-admin", "company-assigner")
	manager = userClient(testEnv, admin, envtest.User{Name: harness.ManagerUser}, "manager-role")
	installProfiles()
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

func repoPath(elem ...string) string {
	return filepath.Join(append([]string{"..", ".."}, elem...)...)
}

// installPolicies creates the admission policies of config/admission-policy
// under their names in the kustomization (no namePrefix).
func installPolicies(c client.Client) error {
	for _, f := range []string{"protect_tier_labels.yaml", "protect_reserved_labels.yaml"} {
		if err := applyFile(c, repoPath("config", "admission-policy", f)); err != nil {
			return err
		}
	}
	return nil
}

// namespaceAdminRole may do everything to namespaces a tenant platform
// typically delegates, including their status and finalize subresources.
func namespaceAdminRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-admin"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces/status", "namespaces/finalize"}, Verbs: []string{"update", "patch"}},
		},
	}
}

// userClient returns a client authenticated as user, bound to clusterRoles
// (bindings created by admin).
func userClient(env *envtest.Environment, admin client.Client, user envtest.User, clusterRoles ...string) client.Client {
	GinkgoHelper()
	au, err := env.AddUser(user, nil)
	Expect(err).NotTo(HaveOccurred())
	for _, role := range clusterRoles {
		Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user.Name + "-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user.Name}},
		})).To(Succeed())
	}
	c, err := client.New(au.Config(), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// applyFile creates every object of a multi-document YAML file.
func applyFile(c client.Client, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("create %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}
