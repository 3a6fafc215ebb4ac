package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/e2e/framework"
)

// plane is a fresh control plane with Tierguard's CRD and RBAC installed, as
// every scenario starts from.
type plane struct {
	cp       *controlplane.ControlPlane
	dir      string
	audit    auditLog
	kubectl  framework.Kubectl
	admin    kubernetes.Interface
	adminCfg *rest.Config
	// crd is a controller-runtime client (admin) that knows the profile type.
	crd client.Client
}

// startPlane starts a control plane in dir with the audit policy, installs
// the CRD and the manager's RBAC from configDir, and returns admin clients
// without client-side rate limits (the bench must not be its own bottleneck).
func startPlane(ctx context.Context, dir, configDir string, logf func(string, ...any)) (*plane, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start plane: %w", err)
	}
	policyPath := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyPath, []byte(framework.AuditPolicy), 0o644); err != nil {
		return nil, fmt.Errorf("start plane: write audit policy: %w", err)
	}
	auditPath := filepath.Join(dir, "audit.log")
	cp, err := controlplane.Start(ctx, controlplane.Options{
		WorkDir: filepath.Join(dir, "plane"),
		// stop removes dir, with the plane's data, unless its logs are
		// wanted.
		KeepData: true,
		APIServerArgs: []string{
			"--audit-policy-file=" + policyPath,
			"--audit-log-path=" + auditPath,
			"--audit-log-format=json",
		},
		// kube-controller-manager's default client limit (20 QPS) would
		// still be creating the default ServiceAccounts of thousands of new
		// namespaces minutes later, in the middle of the measurements.
		ControllerManagerArgs: []string{"--kube-api-qps=1000", "--kube-api-burst=1000"},
		Logf:                  logf,
	})
	if err != nil {
		return nil, err
	}
	p := &plane{cp: cp, dir: dir, audit: auditLog{path: auditPath}}
	p.kubectl = framework.Kubectl{
		Path:       filepath.Join(controlplane.ResolveAssetsDir(""), controlplane.KubectlBinary),
		Kubeconfig: cp.KubeconfigPath,
	}
	if err := p.connect(); err != nil {
		return nil, p.stopWith(err)
	}
	if err := framework.InstallCRD(ctx, p.kubectl, configDir); err != nil {
		return nil, p.stopWith(err)
	}
	if err := framework.InstallRBAC(ctx, p.kubectl, configDir, filepath.Join(dir, "rbac")); err != nil {
		return nil, p.stopWith(err)
	}
	return p, nil
}

// connect builds the admin clients.
func (p *plane) connect() error {
	p.adminCfg = unlimited(p.cp.RESTConfig())
	var err error
	if p.admin, err = kubernetes.NewForConfig(p.adminCfg); err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	scheme, err := benchScheme()
	if err != nil {
		return err
	}
	if p.crd, err = client.New(p.adminCfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return nil
}

// serviceAccount returns a client configuration (without client-side rate
// limit) and kubeconfig for a ServiceAccount of framework.SystemNamespace
// bound, like the manager's, to config/rbac's roles, once RBAC lets it patch
// namespaces.
func (p *plane) serviceAccount(ctx context.Context, name string) (*rest.Config, string, error) {
	if name != framework.ServiceAccountName {
		if err := framework.BindServiceAccount(ctx, p.kubectl, name); err != nil {
			return nil, "", err
		}
	}
	cfg, kubeconfig, err := p.cp.ServiceAccountConfig(ctx, framework.SystemNamespace, name)
	if err != nil {
		return nil, "", err
	}
	if err := framework.WaitCanI(ctx, p.kubectl, framework.ServiceAccountUser(name), "patch", "namespaces", ""); err != nil {
		return nil, "", err
	}
	return unlimited(cfg), kubeconfig, nil
}

// stop stops the plane and removes its data unless keep is set.
func (p *plane) stop(keep bool) error {
	if keep {
		return p.cp.Stop()
	}
	err := p.cp.Stop()
	if rmErr := os.RemoveAll(p.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", p.dir, rmErr)
	}
	return err
}

// stopWith stops the plane after a failure, keeping its data and logs, and
// returns the failure with where to find them.
func (p *plane) stopWith(err error) error {
	return errors.Join(fmt.Errorf("%w (logs in %s)", err, p.dir), p.stop(true))
}

// kubernetesVersion returns the API server's git version.
func (p *plane) kubernetesVersion() string {
	v, err := p.admin.Discovery().ServerVersion()
	if err != nil {
		return "unknown"
	}
	return v.GitVersion
}

// unlimited returns cfg without client-side rate limiting (a negative QPS
// disables client-go's limiter).
func unlimited(cfg *rest.Config) *rest.Config {
	cfg.QPS, cfg.Burst = -1, 0
	return cfg
}

// benchScheme knows the built-in types and the profile.
func benchScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	if err := segv1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	return s, nil
}
