package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names config/default gives Tierguard's objects (namespace tierguard-system,
// name prefix tierguard-), which the RBAC overlay reproduces: every suite,
// the benchmark and the demo run the manager as this one identity.
const (
	// SystemNamespace is the operator's namespace: the manager's
	// POD_NAMESPACE and the namespace of its leader election lease.
	SystemNamespace = "tierguard-system"
	// ServiceAccountName is the manager's ServiceAccount.
	ServiceAccountName = "tierguard-controller-manager"
	// ManagerUser is the user name the API server gives that ServiceAccount.
	ManagerUser = "system:serviceaccount:" + SystemNamespace + ":" + ServiceAccountName
	// ClusterRoleName is config/rbac/role.yaml's ClusterRole, generated from
	// the controller's RBAC markers.
	ClusterRoleName = "tierguard-manager-role"
	// LeaderElectionRoleName is config/rbac/leader_election_role.yaml's Role.
	LeaderElectionRoleName = "tierguard-leader-election-role"
	// LeaseName is the manager's leader election lease (cmd/manager).
	LeaseName = "tierguard.segmentation.tierguard.io"
	// CRDName is the SegmentationProfile CRD.
	CRDName = "segmentationprofiles.segmentation.tierguard.io"
)

// RBACFiles are the files of config/rbac the manager needs: its
// ServiceAccount, the generated ClusterRole, the leader election Role, and
// their bindings; and the unbound ClusterRole tierguard-namespace-assigner,
// which people and pipelines are bound to in order to move namespaces
// between tiers. The metrics auth roles are left out: the suites, the
// benchmark and the demo serve metrics over plain HTTP on loopback, so the
// manager gets no permission it does not use.
var RBACFiles = []string{
	"service_account.yaml",
	"role.yaml",
	"role_binding.yaml",
	"leader_election_role.yaml",
	"leader_election_role_binding.yaml",
	"namespace_assigner_role.yaml",
}

// ServiceAccountUser is the user name the API server gives a ServiceAccount
// of SystemNamespace.
func ServiceAccountUser(name string) string {
	return "system:serviceaccount:" + SystemNamespace + ":" + name
}

// InstallCRD applies <configDir>/crd with server-side apply, as `make
// install` does, and waits until the API server serves the CRD. configDir is
// the repository's config directory, relative to the working directory of
// both this process and kubectl, or absolute.
func InstallCRD(ctx context.Context, k Kubectl, configDir string) error {
	if _, err := k.Run(ctx, "apply", "--server-side", "-k", filepath.Join(configDir, "crd")); err != nil {
		return fmt.Errorf("install CRD: %w", err)
	}
	if _, err := k.Wait(ctx, time.Minute, "--for=condition=Established", "crd/"+CRDName); err != nil {
		return fmt.Errorf("install CRD: %w", err)
	}
	return nil
}

// InstallRBAC creates SystemNamespace and applies RBACFiles of
// <configDir>/rbac through a kustomize overlay, written to overlayDir, that
// sets the namespace and name prefix of config/default, so the manager's
// ServiceAccount is bound to exactly the roles a deployment gets.
func InstallRBAC(ctx context.Context, k Kubectl, configDir, overlayDir string) error {
	if err := WriteRBACOverlay(configDir, overlayDir); err != nil {
		return err
	}
	if _, err := k.Run(ctx, "create", "namespace", SystemNamespace); err != nil {
		return fmt.Errorf("install RBAC: %w", err)
	}
	if _, err := k.Run(ctx, "apply", "-k", overlayDir); err != nil {
		return fmt.Errorf("install RBAC: %w", err)
	}
	return nil
}

// WriteRBACOverlay writes a kustomization with copies of RBACFiles of
// <configDir>/rbac (kustomize loads no file from outside the overlay's
// directory) to dir.
func WriteRBACOverlay(configDir, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write RBAC overlay: %w", err)
	}
	var b strings.Builder
	b.WriteString("# config/rbac's manager permissions, named as config/default names them.\n")
	b.WriteString("namespace: " + SystemNamespace + "\nnamePrefix: tierguard-\nresources:\n")
	for _, name := range RBACFiles {
		data, err := os.ReadFile(filepath.Join(configDir, "rbac", name))
		if err != nil {
			return fmt.Errorf("write RBAC overlay: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write RBAC overlay: %w", err)
		}
		b.WriteString("- " + name + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write RBAC overlay: %w", err)
	}
	return nil
}

// BindServiceAccount creates another ServiceAccount in SystemNamespace bound
// to the same ClusterRole and leader election Role as the manager's, so a
// second replica can run under an identity of its own.
func BindServiceAccount(ctx context.Context, k Kubectl, name string) error {
	subject := "--serviceaccount=" + SystemNamespace + ":" + name
	steps := [][]string{
		{"create", "serviceaccount", name, "-n", SystemNamespace},
		{"create", "clusterrolebinding", name, "--clusterrole=" + ClusterRoleName, subject},
		{"create", "rolebinding", name, "-n", SystemNamespace, "--role=" + LeaderElectionRoleName, subject},
	}
	for _, args := range steps {
		if _, err := k.Run(ctx, args...); err != nil {
			return fmt.Errorf("bind service account %s: %w", name, err)
		}
	}
	return nil
}

// WaitCanI waits until RBAC lets user do verb on resource (the API server's
// authorizer sees new bindings through an informer, shortly after they are
// created).
func WaitCanI(ctx context.Context, k Kubectl, user, verb, resource, namespace string) error {
	args := []string{"auth", "can-i", verb, resource, "--as=" + user}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	return WaitFor(ctx, fmt.Sprintf("RBAC to let %s %s %s", user, verb, resource), 30*time.Second, nil, func(ctx context.Context) error {
		out, err := k.Quiet().Run(ctx, args...)
		if err == nil && strings.TrimSpace(out) != "yes" {
			err = fmt.Errorf("kubectl auth can-i: %q", out)
		}
		return err
	})
}

// InstallAdmissionPolicy applies <configDir>/admission-policy through an
// overlay, written to overlayDir, with config/default's name prefix: the
// policies that make tier membership a matter of RBAC (the verb assign),
// exactly as a deployment installs them. It waits until the API server
// enforces them: an unprivileged user's forged tier label is refused.
func InstallAdmissionPolicy(ctx context.Context, k Kubectl, configDir, overlayDir string) error {
	if err := os.MkdirAll(overlayDir, 0o755); err != nil {
		return fmt.Errorf("install admission policy: %w", err)
	}
	src, err := filepath.Abs(filepath.Join(configDir, "admission-policy"))
	if err != nil {
		return fmt.Errorf("install admission policy: %w", err)
	}
	absOverlay, err := filepath.Abs(overlayDir)
	if err != nil {
		return fmt.Errorf("install admission policy: %w", err)
	}
	rel, err := filepath.Rel(absOverlay, src)
	if err != nil {
		return fmt.Errorf("install admission policy: %w", err)
	}
	kustomization := "# config/admission-policy, named as config/default names it.\nnamePrefix: tierguard-\nresources:\n- " + rel + "\n"
	if err := os.WriteFile(filepath.Join(overlayDir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		return fmt.Errorf("install admission policy: %w", err)
	}
	if _, err := k.Run(ctx, "apply", "--server-side", "-k", overlayDir); err != nil {
		return fmt.Errorf("install admission policy: %w", err)
	}
	return waitAdmissionPolicy(ctx, k)
}

// probeUser is an identity with no permission beyond creating namespaces,
// used only to see the admission policy refuse a forged tier label.
const probeUser = "tierguard-e2e-admission-probe"

func waitAdmissionPolicy(ctx context.Context, k Kubectl) error {
	steps := [][]string{
		{"create", "clusterrole", probeUser, "--verb=create", "--resource=namespaces"},
		{"create", "clusterrolebinding", probeUser, "--clusterrole=" + probeUser, "--user=" + probeUser},
	}
	for _, args := range steps {
		if _, err := k.Run(ctx, args...); err != nil {
			return fmt.Errorf("install admission policy: %w", err)
		}
	}
	manifest := `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tierguard-admission-probe","labels":{"segmentation.tierguard.io/tier":"prod"}}}`
	return WaitFor(ctx, "the admission policy to refuse a forged tier label", 30*time.Second, nil, func(ctx context.Context) error {
		out, err := k.Quiet().RunWithInput(ctx, manifest, "create", "--dry-run=server", "--as="+probeUser, "-f", "-")
		if err != nil && strings.Contains(out+err.Error(), "segmentation.tierguard.io/tier") {
			return nil // refused by the policy, naming the label
		}
		if err == nil {
			return fmt.Errorf("a forged tier label was admitted: %q", out)
		}
		return fmt.Errorf("refused, but not for the tier label: %w", err)
	})
}
