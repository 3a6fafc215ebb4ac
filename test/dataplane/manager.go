package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
)

// The manager's identity: the operator's namespace (always excluded from
// governance) and its ServiceAccount.
const (
	ManagerNamespace      = "tierguard-system"
	ManagerServiceAccount = "tierguard-manager"
	// managerBinding binds config/rbac/role.yaml's ClusterRole to the
	// ServiceAccount.
	managerBinding = "tierguard-dataplane-manager"
)

// buildGo builds the main package pkg of the repository into out.
func buildGo(repoRoot, pkg, out string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
	}
	return nil
}

// grantManagerRole creates the ClusterRole of config/rbac/role.yaml, exactly
// as generated, and binds it to the manager's ServiceAccount: the manager
// runs with the permissions it ships with and no more.
func grantManagerRole(ctx context.Context, cs kubernetes.Interface, repoRoot string) error {
	path := filepath.Join(repoRoot, "config", "rbac", "role.yaml")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read manager role: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	role := &rbacv1.ClusterRole{}
	if err := utilyaml.NewYAMLOrJSONDecoder(f, 4096).Decode(role); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: managerBinding},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Namespace: ManagerNamespace, Name: ManagerServiceAccount,
		}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterRoleBinding %s: %w", managerBinding, err)
	}
	return nil
}

// managerArgs runs one replica without leader election (nothing else
// competes) and with metrics off; probes listen on loopback only.
func managerArgs(healthAddr string) []string {
	return []string{
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + healthAddr,
	}
}

// freeLoopbackAddr returns a free TCP address on 127.0.0.1.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }() // only the port number is wanted
	return l.Addr().String(), nil
}

// waitReady polls http://addr/readyz until it answers 200, the timeout
// passes, or proc exits.
func waitReady(ctx context.Context, addr string, proc *process, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if !proc.running() {
			return false, fmt.Errorf("%s exited: %w", proc.name, proc.exitError())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s to be ready: %w\n%s", proc.name, err, proc.logTail(30))
	}
	return nil
}

// startManager starts the manager as its ServiceAccount, with
// config/rbac/role.yaml's ClusterRole, and waits until it is ready.
func (b *Bed) startManager(ctx context.Context) error {
	if err := ensureNamespace(ctx, b.Clientset, ManagerNamespace, nil); err != nil {
		return err
	}
	if err := grantManagerRole(ctx, b.Clientset, b.opts.RepoRoot); err != nil {
		return err
	}
	_, kubeconfig, err := b.Plane.ServiceAccountConfig(ctx, ManagerNamespace, ManagerServiceAccount)
	if err != nil {
		return err
	}
	healthAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	proc, err := startProcess(processSpec{
		name:    "manager",
		path:    b.managerBin(),
		args:    managerArgs(healthAddr),
		env:     []string{"KUBECONFIG=" + kubeconfig, "POD_NAMESPACE=" + ManagerNamespace},
		logPath: filepath.Join(b.logDir(), "manager.log"),
	})
	if err != nil {
		return err
	}
	b.manager = proc
	return waitReady(ctx, healthAddr, proc, time.Minute)
}
