// Command kube-router is kube-router v2.1.0's own command entry, built in a
// module of its own so that its 2024 Kubernetes dependencies never reach
// Tierguard's go.mod.
//
// It is a test instrument only: kube-router has reported security flaws, and
// the dataplane suite runs it firewall-only, with every listener disabled, on
// a throwaway control plane. Do not ship it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "kube-router: %v\n", err)
		os.Exit(1)
	}
}

// run mirrors cmd/kube-router's Main in v2.1.0 (a package main, so it cannot
// be imported), without the pprof listener it would otherwise start.
func run() error {
	klog.InitFlags(nil)
	config := options.NewKubeRouterConfig()
	config.AddFlags(pflag.CommandLine)
	pflag.Parse()
	// klog reads the standard flag set; kube-router's flags live in pflag.
	if err := flag.CommandLine.Parse([]string{}); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	if err := flag.Set("logtostderr", "true"); err != nil {
		return fmt.Errorf("set logtostderr: %w", err)
	}
	if err := flag.Set("v", config.VLevel); err != nil {
		return fmt.Errorf("set v: %w", err)
	}
	if config.HelpRequested {
		pflag.Usage()
		return nil
	}
	if config.EnablePprof {
		return fmt.Errorf("--enable-pprof is refused: this build runs with every listener off")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root to program iptables and ipset")
	}
	if config.CleanupConfig {
		cmd.CleanupConfigAndExit()
		return nil
	}
	kr, err := cmd.NewKubeRouterDefault(config)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if err := kr.Run(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}
