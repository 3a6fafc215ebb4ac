package hostbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KubeRouterVersion is the policy engine's version, pinned in
// test/dataplane/kuberouter/go.mod.
const KubeRouterVersion = "v2.1.0"

// KubeRouterBinEnv names the environment variable that overrides where the
// engine binary is kept.
const KubeRouterBinEnv = "KUBE_ROUTER_BIN"

// kubePrefix starts the names of the iptables chains and ipsets that
// kube-router (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*, KUBE-SRC-*,
// KUBE-DST-*), kube-proxy (KUBE-SERVICES, KUBE-SVC-*, ...) and kubelet
// (KUBE-FIREWALL, KUBE-KUBELET-CANARY) create. Their own cleanup flags leave
// some behind, so the beds remove every one (IPv6 ipsets carry an "inet6:"
// prefix). No other software on these machines uses the prefix.
const kubePrefix = "KUBE-"

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

// EnsureKubeRouter builds the engine with test/dataplane/kuberouter/build.sh
// when missing (about 5 minutes on 2 cores, once) and returns its path.
func EnsureKubeRouter(repoRoot string, logf func(string, ...any)) (string, error) {
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

// KubeRouterPrefixes start the names of the chains and ipsets of
// kube-router's firewall alone (pkg/controllers/netpol).
var KubeRouterPrefixes = []string{"KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-", "KUBE-SRC-", "KUBE-DST-"}

// RemoveKubeState removes every KUBE-* iptables chain (and the rules that
// jump to it) and every KUBE-* ipset. Call it only once kube-router,
// kube-proxy and kubelet have stopped, or they program them again.
func RemoveKubeState() error { return RemoveState(kubePrefix) }

// RemoveState removes the iptables chains (and the rules that jump to them)
// and the ipsets whose names start with one of prefixes.
func RemoveState(prefixes ...string) error {
	match := func(name string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(strings.TrimPrefix(name, "inet6:"), p) {
				return true
			}
		}
		return false
	}
	var errs []error
	for _, family := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(family + "-save"); err != nil {
			continue
		}
		if err := removeChains(family, match); err != nil {
			errs = append(errs, err)
		}
	}
	if err := destroyIPSets(match); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// KubeLeftovers describes the KUBE-* rules and ipsets left on the machine.
func KubeLeftovers() []string {
	var found []string
	for _, family := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(family + "-save"); err != nil {
			continue
		}
		out, _ := Run(family + "-save")
		if n := strings.Count(out, kubePrefix); n > 0 {
			found = append(found, fmt.Sprintf("%d mentions of %s in %s-save", n, kubePrefix, family))
		}
	}
	if _, err := exec.LookPath("ipset"); err == nil {
		out, _ := Run("ipset", "list", "-n")
		for _, name := range strings.Fields(out) {
			if isKubeIPSet(name) {
				found = append(found, "ipset "+name)
			}
		}
	}
	return found
}

// removeChains deletes, in one iptables-restore --noflush per table, the
// rules of other chains that jump to the matching chains, then flushes and
// deletes those chains.
func removeChains(family string, match func(string) bool) error {
	saved, err := Run(family + "-save")
	if err != nil {
		return fmt.Errorf("clean KUBE- chains: %w", err)
	}
	script := cleanupScript(saved, match)
	if script == "" {
		return nil
	}
	cmd := exec.Command(family+"-restore", "--noflush", "-w")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("clean KUBE- chains with %s-restore: %w: %s\nscript:\n%s", family, err, out, script)
	}
	return nil
}

// KubeCleanupScript turns iptables-save output into an iptables-restore
// --noflush script removing the KUBE-* chains, or "" when there are none.
// Rules of other chains that jump to them are deleted first.
func KubeCleanupScript(saved string) string {
	return cleanupScript(saved, func(name string) bool { return strings.HasPrefix(name, kubePrefix) })
}

// cleanupScript is KubeCleanupScript for the chains match selects.
func cleanupScript(saved string, match func(string) bool) string {
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
			if name := strings.Fields(strings.TrimPrefix(line, ":")); len(name) > 0 && match(name[0]) {
				chains = append(chains, name[0])
			}
		case strings.HasPrefix(line, "-A "):
			fields := strings.Fields(line)
			if len(fields) > 1 && !match(fields[1]) && jumpsTo(fields, match) {
				jumps = append(jumps, line)
			}
		}
	}
	return out.String()
}

// jumpsTo reports whether a rule's target is a matching chain.
func jumpsTo(fields []string, match func(string) bool) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && match(fields[i+1]) {
			return true
		}
	}
	return false
}

func isKubeIPSet(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, "inet6:"), kubePrefix)
}

// destroyIPSets destroys the matching ipsets.
func destroyIPSets(match func(string) bool) error {
	if _, err := exec.LookPath("ipset"); err != nil {
		return nil
	}
	out, err := Run("ipset", "list", "-n")
	if err != nil {
		return fmt.Errorf("list ipsets: %w", err)
	}
	var errs []error
	for _, name := range strings.Fields(out) {
		if match(name) {
			if _, err := Run("ipset", "destroy", name); err != nil {
				errs = append(errs, fmt.Errorf("destroy ipset: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
