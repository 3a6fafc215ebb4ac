package dataplane

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// engineProgrammed reports whether kube-router has installed its top-level
// chains, the sign its first sync has run.
func engineProgrammed() error {
	if _, err := hostbed.Run("iptables", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD"); err != nil {
		return fmt.Errorf("kube-router has not programmed iptables yet: %w", err)
	}
	return nil
}

// startEngine starts kube-router and waits until it has programmed iptables.
func (b *Bed) startEngine(ctx context.Context) error {
	bin := hostbed.KubeRouterBinary()
	b.engine = &harness.Process{
		Name: "kube-router", Path: bin, Args: hostbed.KubeRouterArgs(b.Plane.KubeconfigPath, NodeName, controlplane.ServiceClusterIPRange),
		LogPath: filepath.Join(b.logDir(), "kube-router.log"), OnStart: hostbed.RecordPID(bin), OnExit: hostbed.UnregisterPID,
	}
	if err := b.engine.Start(); err != nil {
		return err
	}
	return harness.WaitFor(ctx, "kube-router to program iptables", time.Minute, b.engine,
		func(context.Context) error { return engineProgrammed() })
}
