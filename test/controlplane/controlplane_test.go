package controlplane

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tierguard/tierguard/test/harness"
)

// TestPKIClientCert needs no binaries: client certificates chain to the CA
// and carry the user and groups, and a second load reuses the CA.
func TestPKIClientCert(t *testing.T) {
	dir := t.TempDir()
	p, err := loadOrCreatePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := p.clientCert("alice", []string{"team-a", "tierguard:breakglass"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against the CA: %v", err)
	}
	if cert.Subject.CommonName != "alice" || !slices.Equal(cert.Subject.Organization, []string{"team-a", "tierguard:breakglass"}) {
		t.Errorf("subject = %v, want CN=alice O=team-a,tierguard:breakglass", cert.Subject)
	}
	again, err := loadOrCreatePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.caCert.Equal(p.caCert) {
		t.Error("a second loadOrCreatePKI made a new CA instead of reusing the stored one")
	}
}

// TestControlPlane starts the whole plane and checks garbage collection,
// namespace deletion, identities, restarts of the API server and etcd, and a
// clean stop.
func TestControlPlane(t *testing.T) {
	if err := harness.CheckAssets(harness.ResolveAssetsDir("")); err != nil {
		t.Skipf("Skipping: the control plane binaries are not built (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	began := time.Now()
	cp, err := Start(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(cp.LogTails(60))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	t.Logf("Control plane ready in %s, PIDs %v", time.Since(began).Round(time.Millisecond), cp.PIDs())
	client := cp.Clientset()

	const ns, survivorNS = "cp-test", "cp-survivor"
	for _, name := range []string{ns, survivorNS} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", name, err)
		}
	}

	t.Run("kubectl", func(t *testing.T) {
		out, err := cp.Kubectl().Run(ctx, "get", "namespace", ns, "-o", "name")
		if err != nil || strings.TrimSpace(out) != "namespace/"+ns {
			t.Fatalf("kubectl get namespace: %v: %s", err, out)
		}
	})

	t.Run("garbage collector deletes dependents", func(t *testing.T) {
		configMaps := client.CoreV1().ConfigMaps(ns)
		owner, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dependent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "dependent",
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
			}},
		}}
		if _, err := configMaps.Create(ctx, dependent, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		background := metav1.DeletePropagationBackground
		if err := configMaps.Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		waitGone(ctx, t, "ConfigMap dependent", func(ctx context.Context) error {
			_, err := configMaps.Get(ctx, "dependent", metav1.GetOptions{})
			return err
		})
	})

	t.Run("user certificate is subject to RBAC", func(t *testing.T) {
		cfg, kubeconfig, err := cp.UserConfig("alice", []string{"tierguard:breakglass"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(kubeconfig); err != nil {
			t.Errorf("user kubeconfig: %v", err)
		}
		user := mustClient(t, cfg)
		info := whoAmI(ctx, t, user)
		if info.Username != "alice" || !slices.Contains(info.Groups, "tierguard:breakglass") {
			t.Errorf("user is %q in %v, want alice in tierguard:breakglass", info.Username, info.Groups)
		}
		_, err = user.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("alice listing secrets: err = %v, want Forbidden", err)
		}
	})

	t.Run("service account token with least privilege", func(t *testing.T) {
		cfg, _, err := cp.ServiceAccountConfig(ctx, ns, "operator")
		if err != nil {
			t.Fatal(err)
		}
		sa := mustClient(t, cfg)
		if info := whoAmI(ctx, t, sa); info.Username != "system:serviceaccount:"+ns+":operator" {
			t.Errorf("service account client is %q", info.Username)
		}
		if _, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing configmaps before the RoleBinding: err = %v, want Forbidden", err)
		}
		grantConfigMapReader(ctx, t, client, ns, "operator")
		err = harness.WaitFor(ctx, "RBAC to let the service account list configmaps", 30*time.Second, nil, func(ctx context.Context) error {
			_, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			return err
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("restarts keep data", func(t *testing.T) {
		before := cp.PIDs()
		if err := cp.RestartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Namespaces().Get(ctx, survivorNS, metav1.GetOptions{}); err != nil {
			t.Fatalf("after restarting the API server: %v", err)
		}
		if err := cp.RestartEtcd(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Namespaces().Get(ctx, survivorNS, metav1.GetOptions{}); err != nil {
			t.Fatalf("after restarting etcd: %v", err)
		}
		if _, err := client.CoreV1().ConfigMaps(survivorNS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-restart"}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("write after restarting etcd: %v", err)
		}
		after := cp.PIDs()
		for _, name := range []string{harness.EtcdBinary, harness.APIServerBinary} {
			if after[name] == 0 || after[name] == before[name] {
				t.Errorf("%s pid %d -> %d, want a new process", name, before[name], after[name])
			}
		}
	})

	t.Run("namespace deletion completes", func(t *testing.T) {
		if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(ctx, t, "namespace "+ns, func(ctx context.Context) error {
			_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err
		})
	})

	if t.Failed() {
		return
	}
	pids := cp.PIDs()
	if len(pids) != 3 {
		t.Errorf("PIDs before Stop = %v, want etcd, kube-apiserver and kube-controller-manager", pids)
	}
	stopBegan := time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stopped in %s", time.Since(stopBegan).Round(time.Millisecond))
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop: kill(0) = %v", name, pid, err)
		}
	}
	if _, err := os.Stat(cp.WorkDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir %s not removed: %v", cp.WorkDir, err)
	}
	if left := cp.PIDs(); len(left) != 0 {
		t.Errorf("PIDs after Stop = %v, want none", left)
	}
}

// waitGone waits up to a minute until get returns NotFound.
func waitGone(ctx context.Context, t *testing.T, what string, get func(context.Context) error) {
	t.Helper()
	err := harness.WaitFor(ctx, what+" to be deleted", time.Minute, nil, func(ctx context.Context) error {
		if err := get(ctx); !apierrors.IsNotFound(err) {
			return fmt.Errorf("get: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mustClient makes a clientset from cfg.
func mustClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// whoAmI asks the API server who client authenticates as.
func whoAmI(ctx context.Context, t *testing.T, client kubernetes.Interface) authenticationv1.UserInfo {
	t.Helper()
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	return review.Status.UserInfo
}

// grantConfigMapReader lets service account ns/name list ConfigMaps in ns.
func grantConfigMapReader(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
