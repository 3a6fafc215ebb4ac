package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/tierguard/tierguard/test/hostbed"
)

// runDir is the work dir of a run: binaries, logs and the control plane's
// data. A run removes its own; the next run removes one a crash (or
// DATAPLANE_KEEP_LOGS) left.
var runDir = filepath.Join(hostbed.StateDir, "run")

// removeLeftovers stops the processes a crashed run left (by recorded PID),
// removes its network namespaces, bridge, chains, ipsets and work dir, and
// restores the kernel settings it changed.
func removeLeftovers() error {
	err := errors.Join(hostbed.RemoveLeftovers(), removeNetwork())
	if rmErr := os.RemoveAll(runDir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove the work dir of an earlier run: %w", rmErr))
	}
	return err
}

// leftovers lists what the bed leaves on the machine: its network
// namespaces, bridge or veths, iptables lines mentioning KUBE- chains,
// kube-router's ipsets, kernel settings not restored, and recorded children
// still running. After Down it must be empty.
func leftovers() []string {
	var found []string
	if out, err := hostbed.Run("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], NetnsPrefix) {
				found = append(found, "network namespace "+f[0])
			}
		}
	}
	if links, err := net.Interfaces(); err == nil {
		for _, l := range links {
			if l.Name == BridgeName || strings.HasPrefix(l.Name, hostVethPrefix) {
				found = append(found, "link "+l.Name)
			}
		}
	}
	found = append(found, hostbed.KubeLeftovers()...)
	for path, value := range hostbed.UnrestoredSysctls() {
		found = append(found, fmt.Sprintf("kernel setting %s not restored to %s", path, value))
	}
	for pid, exe := range hostbed.RecordedProcesses() {
		found = append(found, fmt.Sprintf("process %d (%s) still recorded", pid, exe))
	}
	return found
}
