package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// bridgeNetfilterSysctl makes bridged frames traverse iptables, which is
// where kube-router filters pod-to-pod traffic on one bridge.
const bridgeNetfilterSysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"

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

// installTools installs iproute2, iptables and ipset when missing.
func installTools(repoRoot string) error {
	script := filepath.Join(repoRoot, "test", "dataplane", "scripts", "install-tools.sh")
	cmd := exec.Command(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("install iproute2, iptables and ipset (%s): %w\n%s", script, err, out)
	}
	return nil
}

// enableBridgeNetfilter turns bridge netfilter on and returns a function that
// restores the previous setting.
func enableBridgeNetfilter() (restore func() error, err error) {
	before, err := os.ReadFile(bridgeNetfilterSysctl)
	if errors.Is(err, os.ErrNotExist) {
		// br_netfilter is a module on most kernels; the sysctl appears once loaded.
		if _, modErr := run("modprobe", "br_netfilter"); modErr != nil {
			return nil, fmt.Errorf("bridge netfilter unavailable: %w", modErr)
		}
		before, err = os.ReadFile(bridgeNetfilterSysctl)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bridgeNetfilterSysctl, err)
	}
	previous := strings.TrimSpace(string(before))
	if err := os.WriteFile(bridgeNetfilterSysctl, []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("enable bridge netfilter: %w", err)
	}
	return func() error {
		if previous == "1" {
			return nil
		}
		if err := os.WriteFile(bridgeNetfilterSysctl, []byte(previous), 0o644); err != nil {
			return fmt.Errorf("restore %s: %w", bridgeNetfilterSysctl, err)
		}
		return nil
	}, nil
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
