package dataplane

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// engineArgs runs kube-router's firewall only: no routing, service proxy,
// load balancer or CNI configuration, and no listener at all (health and
// metrics ports 0; the wrapper refuses pprof).
func engineArgs(kubeconfig, node string) []string {
	return []string{
		"--run-firewall=true",
		"--run-router=false",
		"--run-service-proxy=false",
		"--run-loadbalancer=false",
		"--enable-cni=false",
		"--health-port=0",
		"--metrics-port=0",
		"--hostname-override=" + node,
		"--service-cluster-ip-range=10.96.0.0/12",
		"--kubeconfig=" + kubeconfig,
		"--v=1",
	}
}

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
		Name: "kube-router", Path: bin, Args: engineArgs(b.Plane.KubeconfigPath, NodeName),
		LogPath: filepath.Join(b.logDir(), "kube-router.log"), OnStart: hostbed.RecordPID(bin), OnExit: hostbed.UnregisterPID,
	}
	if err := b.engine.Start(); err != nil {
		return err
	}
	return harness.WaitFor(ctx, "kube-router to program iptables", time.Minute, b.engine,
		func(context.Context) error { return engineProgrammed() })
}
