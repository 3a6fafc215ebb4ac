package hostbed

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

// Support returns nil when this machine can run a host bed (Linux, root),
// else why not.
func Support() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("running on %s", runtime.GOOS)
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("running as uid %d", uid)
	}
	return nil
}

// Run runs a command and returns its standard output; the error carries the
// command line and its standard error.
func Run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// InstallTools installs, from Debian packages and only when missing,
// iproute2, iptables, ipset and conntrack, and with node also containerd and
// runc (install-tools.sh).
func InstallTools(repoRoot string, node bool) error {
	script := filepath.Join(repoRoot, "test", "hostbed", "install-tools.sh")
	var args []string
	if node {
		args = append(args, "node")
	}
	out, err := exec.Command(script, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("install host tools (%s): %w\n%s", script, err, out)
	}
	return nil
}

// NodeAddress returns this machine's primary IPv4 address (the source of its
// default route) and the interface that carries it (the uplink), ignoring
// addresses inside exclude (a bed's own pod range).
func NodeAddress(exclude *net.IPNet) (addr, uplink string, err error) {
	if out, err := Run("ip", "-4", "-o", "route", "get", "1.1.1.1"); err == nil {
		fields := strings.Fields(out)
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == "src" && net.ParseIP(fields[i+1]) != nil {
				addr = fields[i+1]
			}
			if fields[i] == "dev" {
				uplink = fields[i+1]
			}
		}
		if addr != "" && uplink != "" {
			return addr, uplink, nil
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", "", fmt.Errorf("find node address: %w", err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if ok && ipnet.IP.To4() != nil && ipnet.IP.IsGlobalUnicast() && (exclude == nil || !exclude.Contains(ipnet.IP)) {
				return ipnet.IP.String(), iface.Name, nil
			}
		}
	}
	return "", "", errors.New("find node address: no global IPv4 address")
}
