package dataplane

import (
	"context"
	"path/filepath"
	"time"

	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// startManager installs the manager's RBAC from config/rbac, as a user
// installs it, and starts the manager as its ServiceAccount, without leader
// election (nothing else competes), until it serves its probes.
func (b *Bed) startManager(ctx context.Context) error {
	if err := harness.InstallRBAC(ctx, b.kubectl, b.configDir(), filepath.Join(b.workDir, "rbac")); err != nil {
		return err
	}
	_, kubeconfig, err := b.Plane.ServiceAccountConfig(ctx, harness.SystemNamespace, harness.ServiceAccountName)
	if err != nil {
		return err
	}
	m, err := harness.StartManager(harness.ManagerOptions{
		Binary: b.managerBin(), Kubeconfig: kubeconfig, Name: "manager", LogDir: b.logDir(),
		OnStart: hostbed.RecordPID(b.managerBin()), OnExit: hostbed.UnregisterPID,
	})
	if err != nil {
		return err
	}
	b.manager = m
	return m.WaitServing(ctx, time.Minute)
}
