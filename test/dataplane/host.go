package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Kernel settings of the host network namespace that tuneKernel changes.
const (
	bridgeNetfilterSysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	icmpRateMaskSysctl    = "/proc/sys/net/ipv4/icmp_ratemask"
	// icmpDestUnreachable is the ICMP type of the engine's REJECT, a bit of
	// icmp_ratemask.
	icmpDestUnreachable = 3
)

// HostSupport returns nil when this machine can run the bed (Linux, root),
// else why not.
func HostSupport() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("running on %s", runtime.GOOS)
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("running as uid %d", uid)
	}
	return nil
}

// run runs a command and returns its standard output; the error carries the
// command line and its standard error.
func run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// installTools installs iproute2, iptables, ipset and conntrack when missing.
func installTools(repoRoot string) error {
	script := filepath.Join(repoRoot, "test", "dataplane", "scripts", "install-tools.sh")
	cmd := exec.Command(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("install iproute2, iptables, ipset and conntrack (%s): %w\n%s", script, err, out)
	}
	return nil
}

// tuneKernel makes the host fit for measuring: bridged frames traverse
// iptables (where kube-router filters pod-to-pod traffic on one bridge), and
// ICMP destination-unreachable errors are exempt from rate limiting, so that
// every connection the engine REJECTs is refused at once. Otherwise the
// kernel sends about one such error per second per pod, and most forbidden
// attempts would only time out: slow, and a coarser exposure measurement.
// Both settings are restored by the returned function.
func tuneKernel() (restore func() error, err error) {
	if _, err := os.Stat(bridgeNetfilterSysctl); errors.Is(err, os.ErrNotExist) {
		// br_netfilter is a module on most kernels; the sysctl appears once loaded.
		if _, modErr := run("modprobe", "br_netfilter"); modErr != nil {
			return nil, fmt.Errorf("bridge netfilter unavailable: %w", modErr)
		}
	}
	restoreBridge, err := setSysctl(bridgeNetfilterSysctl, func(string) (string, error) { return "1", nil })
	if err != nil {
		return nil, err
	}
	restoreMask, err := setSysctl(icmpRateMaskSysctl, func(prev string) (string, error) {
		mask, err := strconv.Atoi(prev)
		if err != nil {
			return "", fmt.Errorf("parse %s %q: %w", icmpRateMaskSysctl, prev, err)
		}
		return strconv.Itoa(mask &^ (1 << icmpDestUnreachable)), nil
	})
	if err != nil {
		return nil, errors.Join(err, restoreBridge())
	}
	return func() error { return errors.Join(restoreMask(), restoreBridge()) }, nil
}

// nodeAddress returns this machine's primary IPv4 address (the source of its
// default route), which becomes the Node's InternalIP and every Pod's hostIP:
// the engine enforces only for pods whose hostIP is its node's address.
func nodeAddress() (string, error) {
	if out, err := run("ip", "-4", "-o", "route", "get", "1.1.1.1"); err == nil {
		fields := strings.Fields(out)
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == "src" && net.ParseIP(fields[i+1]) != nil {
				return fields[i+1], nil
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("find node address: %w", err)
	}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if ok && ipnet.IP.To4() != nil && ipnet.IP.IsGlobalUnicast() && !podSubnet.Contains(ipnet.IP) {
			return ipnet.IP.String(), nil
		}
	}
	return "", errors.New("find node address: no global IPv4 address")
}
