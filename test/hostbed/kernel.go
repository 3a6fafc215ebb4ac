package hostbed

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Kernel settings of the host network namespace that TuneKernel changes.
const (
	bridgeNetfilterSysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	icmpRateMaskSysctl    = "/proc/sys/net/ipv4/icmp_ratemask"
	ipForwardSysctl       = "/proc/sys/net/ipv4/ip_forward"
	// icmpDestUnreachable is the ICMP type of the engine's REJECT, a bit of
	// icmp_ratemask.
	icmpDestUnreachable = 3
)

// TuneKernel makes the host fit for measuring: bridged frames traverse
// iptables (where kube-router filters pod-to-pod traffic on one bridge), and
// ICMP destination-unreachable errors are exempt from rate limiting, so that
// every connection the engine REJECTs is refused at once. Otherwise the
// kernel sends about one such error per second per pod, and most forbidden
// attempts would only time out: slow, and a coarser exposure measurement.
// With forwarding, IPv4 forwarding is turned on too (the real node's bridge
// plugin would otherwise turn it on behind the journal's back). Every
// setting is journaled and restored by the returned function.
func TuneKernel(forwarding bool) (restore func() error, err error) {
	if _, err := os.Stat(bridgeNetfilterSysctl); errors.Is(err, os.ErrNotExist) {
		// br_netfilter is a module on most kernels; the sysctl appears once loaded.
		if _, modErr := Run("modprobe", "br_netfilter"); modErr != nil {
			return nil, fmt.Errorf("bridge netfilter unavailable: %w", modErr)
		}
	}
	restoreBridge, err := SetSysctl(bridgeNetfilterSysctl, func(string) (string, error) { return "1", nil })
	if err != nil {
		return nil, err
	}
	restoreMask, err := SetSysctl(icmpRateMaskSysctl, func(prev string) (string, error) {
		mask, err := strconv.Atoi(prev)
		if err != nil {
			return "", fmt.Errorf("parse %s %q: %w", icmpRateMaskSysctl, prev, err)
		}
		return strconv.Itoa(mask &^ (1 << icmpDestUnreachable)), nil
	})
	if err != nil {
		return nil, errors.Join(err, restoreBridge())
	}
	restoreForward := func() error { return nil }
	if forwarding {
		if restoreForward, err = SetSysctl(ipForwardSysctl, func(string) (string, error) { return "1", nil }); err != nil {
			return nil, errors.Join(err, restoreMask(), restoreBridge())
		}
	}
	return func() error { return errors.Join(restoreForward(), restoreMask(), restoreBridge()) }, nil
}

// FlushConntrack deletes the host's connection tracking entries of a pod
// range (cidr). The addresses and the UDP source ports of the measurements are the
// same in every run, and the engine lets a packet of a tracked connection
// pass whatever the policies say, so an entry a previous run left (UDP:
// 30 s, 120 s once replied to twice) would open a cell a policy closes.
//
// conntrack exits 1 both when there was nothing to delete and when an entry
// it listed was gone (expired, or deleted through the other direction)
// before it could delete it ("such conntrack doesn't exist"); neither leaves
// an entry behind, but the second may come with entries not yet deleted, so
// each direction is flushed until a pass deletes nothing.
func FlushConntrack(cidr string) error {
	var errs []error
	for _, dir := range []string{"--orig-src", "--orig-dst"} {
		for attempt := 0; ; attempt++ {
			out, err := Run("conntrack", "-D", dir, cidr)
			text := out
			if err != nil {
				text += err.Error()
			}
			if err == nil && attempt < 3 {
				continue // deleted some: flush again until nothing is left
			}
			if err == nil || strings.Contains(text, "0 flow entries have been deleted") {
				break
			}
			if strings.Contains(text, "such conntrack doesn't exist") && attempt < 3 {
				continue
			}
			errs = append(errs, fmt.Errorf("flush connection tracking of %s: %w", cidr, err))
			break
		}
	}
	return errors.Join(errs...)
}

// KubeRouterArgs runs kube-router's firewall only: no routing, service
// proxy, load balancer or CNI configuration, and no listener at all (health
// and metrics ports 0; the wrapper refuses pprof).
func KubeRouterArgs(kubeconfig, node, serviceCIDR string) []string {
	return []string{
		"--run-firewall=true",
		"--run-router=false",
		"--run-service-proxy=false",
		"--run-loadbalancer=false",
		"--enable-cni=false",
		"--health-port=0",
		"--metrics-port=0",
		"--hostname-override=" + node,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--kubeconfig=" + kubeconfig,
		"--v=1",
	}
}
