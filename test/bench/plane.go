package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
)

// plane is a fresh control plane with Tierguard's CRD and RBAC installed, as
// every scenario starts from.
type plane struct {
	cp       *controlplane.ControlPlane
	dir      string
	audit    auditLog
	kubectl  harness.Kubectl
	admin    kubernetes.Interface
	adminCfg *rest.Config
	// crd is a controller-runtime client (admin) that knows the profile type.
	crd client.Client
}

// startPlane starts a control plane in dir with the audit policy, installs
// the CRD and the manager's RBAC from configDir, and returns admin clients
// without client-side rate limits (the bench must not be its own bottleneck).
func startPlane(ctx context.Context, dir, configDir string) (*plane, error) {
	cp, err := controlplane.Start(ctx, controlplane.Options{
		WorkDir: filepath.Join(dir, "plane"),
		// stop removes dir, with the plane's data, unless its logs are
		// wanted.
		KeepData:    true,
		AuditPolicy: harness.AuditPolicy,
		// kube-controller-manager's default client limit (20 QPS) would
		// still be creating the default ServiceAccounts of thousands of new
		// namespaces minutes later, in the middle of the measurements.
		ControllerManagerArgs: []string{"--kube-api-qps=1000", "--kube-api-burst=1000"},
	})
	if err != nil {
		return nil, err
	}
	p := &plane{cp: cp, dir: dir, audit: auditLog{path: cp.AuditLogPath}, kubectl: cp.Kubectl()}
	if err := p.connect(); err != nil {
		return nil, p.stopWith(err)
	}
	if err := harness.InstallCRD(ctx, p.kubectl, configDir); err != nil {
		return nil, p.stopWith(err)
	}
	if err := harness.InstallRBAC(ctx, p.kubectl, configDir, filepath.Join(dir, "rbac")); err != nil {
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
	if p.crd, err = harness.NewClient(p.adminCfg); err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return nil
}

// serviceAccount returns a client configuration (without client-side rate
// limit) and kubeconfig for a ServiceAccount of harness.SystemNamespace
// bound, like the manager's, to config/rbac's roles, once RBAC lets it patch
// namespaces.
func (p *plane) serviceAccount(ctx context.Context, name string) (*rest.Config, string, error) {
	if name != harness.ServiceAccountName {
		if err := harness.BindServiceAccount(ctx, p.kubectl, name); err != nil {
			return nil, "", err
		}
	}
	cfg, kubeconfig, err := p.cp.ServiceAccountConfig(ctx, harness.SystemNamespace, name)
	if err != nil {
		return nil, "", err
	}
	if err := harness.WaitCanI(ctx, p.kubectl, harness.ServiceAccountUser(name), "patch", "namespaces", ""); err != nil {
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
