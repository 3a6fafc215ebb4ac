package dataplane

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/tierguard/tierguard/test/hostbed"
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
func HostSupport() error { return hostbed.Support() }

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
		if _, modErr := hostbed.Run("modprobe", "br_netfilter"); modErr != nil {
			return nil, fmt.Errorf("bridge netfilter unavailable: %w", modErr)
		}
	}
	restoreBridge, err := hostbed.SetSysctl(bridgeNetfilterSysctl, func(string) (string, error) { return "1", nil })
	if err != nil {
		return nil, err
	}
	restoreMask, err := hostbed.SetSysctl(icmpRateMaskSysctl, func(prev string) (string, error) {
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
	addr, _, err := hostbed.NodeAddress(podSubnet)
	return addr, err
}
