package dataplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tierguard/tierguard/test/harness"
)

// KubeRouterVersion is the engine's version, pinned in kuberouter/go.mod.
const KubeRouterVersion = "v2.1.0"

// KubeRouterBinEnv names the environment variable that overrides where the
// engine binary is kept.
const KubeRouterBinEnv = "KUBE_ROUTER_BIN"

// kubeRouterChainPrefixes and kubeRouterIPSetPrefixes start the names of the
// iptables chains and ipsets kube-router's firewall creates
// (pkg/controllers/netpol; IPv6 ipsets carry an "inet6:" prefix).
var (
	kubeRouterChainPrefixes = []string{"KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-"}
	kubeRouterIPSetPrefixes = []string{"KUBE-SRC-", "KUBE-DST-"}
)

// KubeRouterBinary returns where the engine binary is kept: $KUBE_ROUTER_BIN,
// else a cache outside the repository, so every clone reuses one build.
func KubeRouterBinary() string {
	if p := os.Getenv(KubeRouterBinEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "tierguard", "kube-router-"+KubeRouterVersion, "kube-router")
}

// ensureKubeRouter builds the engine with kuberouter/build.sh when missing
// (about 5 minutes on 2 cores, once) and returns its path.
func ensureKubeRouter(repoRoot string, logf func(string, ...any)) (string, error) {
	bin := KubeRouterBinary()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("Building kube-router %s into %s (first run only, about 5 minutes)", KubeRouterVersion, bin)
	cmd := exec.Command(filepath.Join(repoRoot, "test", "dataplane", "kuberouter", "build.sh"), bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build kube-router: %w\n%s", err, out)
	}
	return bin, nil
}

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
	if _, err := run("iptables", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD"); err != nil {
		return fmt.Errorf("kube-router has not programmed iptables yet: %w", err)
	}
	return nil
}

// removeEngineState removes kube-router's iptables chains (and the rules
// that jump to them) and its ipsets. kube-router leaves them behind when it
// stops; call this only once it has stopped, or it programs them again.
func removeEngineState() error {
	var errs []error
	for _, family := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(family + "-save"); err != nil {
			continue
		}
		if err := removeKubeRouterChains(family); err != nil {
			errs = append(errs, err)
		}
	}
	if err := destroyKubeRouterIPSets(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeKubeRouterChains deletes, in one iptables-restore --noflush per
// table, the rules of other chains that jump to kube-router's chains, then
// flushes and deletes those chains.
func removeKubeRouterChains(family string) error {
	saved, err := run(family + "-save")
	if err != nil {
		return fmt.Errorf("clean kube-router chains: %w", err)
	}
	script := kubeRouterCleanupScript(saved)
	if script == "" {
		return nil
	}
	cmd := exec.Command(family+"-restore", "--noflush", "-w")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("clean kube-router chains with %s-restore: %w: %s\nscript:\n%s", family, err, out, script)
	}
	return nil
}

// kubeRouterCleanupScript turns iptables-save output into an
// iptables-restore --noflush script removing kube-router's chains, or ""
// when there are none.
func kubeRouterCleanupScript(saved string) string {
	var out strings.Builder
	var table string
	var jumps, chains []string
	flush := func() {
		if table == "" || (len(jumps) == 0 && len(chains) == 0) {
			return
		}
		fmt.Fprintf(&out, "*%s\n", table)
		for _, rule := range jumps {
			fmt.Fprintf(&out, "-D%s\n", strings.TrimPrefix(rule, "-A"))
		}
		for _, c := range chains {
			fmt.Fprintf(&out, "-F %s\n", c)
		}
		for _, c := range chains {
			fmt.Fprintf(&out, "-X %s\n", c)
		}
		out.WriteString("COMMIT\n")
	}
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table, jumps, chains = strings.TrimPrefix(line, "*"), nil, nil
		case strings.HasPrefix(line, "COMMIT"):
			flush()
			table = ""
		case strings.HasPrefix(line, ":"):
			if name := strings.Fields(strings.TrimPrefix(line, ":")); len(name) > 0 && isKubeRouterChain(name[0]) {
				chains = append(chains, name[0])
			}
		case strings.HasPrefix(line, "-A "):
			fields := strings.Fields(line)
			if len(fields) > 1 && !isKubeRouterChain(fields[1]) && jumpsToKubeRouter(fields) {
				jumps = append(jumps, line)
			}
		}
	}
	return out.String()
}

// jumpsToKubeRouter reports whether a rule's target is a kube-router chain.
func jumpsToKubeRouter(fields []string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && isKubeRouterChain(fields[i+1]) {
			return true
		}
	}
	return false
}

func isKubeRouterChain(name string) bool { return hasAnyPrefix(name, kubeRouterChainPrefixes) }

func isKubeRouterIPSet(name string) bool {
	return hasAnyPrefix(strings.TrimPrefix(name, "inet6:"), kubeRouterIPSetPrefixes)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// destroyKubeRouterIPSets destroys kube-router's ipsets.
func destroyKubeRouterIPSets() error {
	if _, err := exec.LookPath("ipset"); err != nil {
		return nil
	}
	out, err := run("ipset", "list", "-n")
	if err != nil {
		return fmt.Errorf("list ipsets: %w", err)
	}
	var errs []error
	for _, name := range strings.Fields(out) {
		if isKubeRouterIPSet(name) {
			if _, err := run("ipset", "destroy", name); err != nil {
				errs = append(errs, fmt.Errorf("destroy kube-router ipset: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// startEngine starts kube-router and waits until it has programmed iptables.
func (b *Bed) startEngine(ctx context.Context) error {
	bin := KubeRouterBinary()
	b.engine = &harness.Process{
		Name: "kube-router", Path: bin, Args: engineArgs(b.Plane.KubeconfigPath, NodeName),
		LogPath: filepath.Join(b.logDir(), "kube-router.log"), OnStart: recordPID(bin), OnExit: unregisterPID,
	}
	if err := b.engine.Start(); err != nil {
		return err
	}
	return harness.WaitFor(ctx, "kube-router to program iptables", time.Minute, b.engine,
		func(context.Context) error { return engineProgrammed() })
}
