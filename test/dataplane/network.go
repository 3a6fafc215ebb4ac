package dataplane

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/tierguard/tierguard/test/hostbed"
)

// Names and addresses of the bed's network, chosen not to collide with a
// container runtime's (docker0, cni0, 172.17/16, 10.88/16) or the host's.
const (
	// BridgeName is the bridge every pod's veth is attached to.
	BridgeName = "tgbr0"
	// NetnsPrefix starts the name of every network namespace of the bed.
	NetnsPrefix = "tgdp-"
	// hostVethPrefix starts the host side of every pod's veth pair.
	hostVethPrefix = "tgv"
	// gatewayCIDR is the bridge's address: rejected connections get their
	// ICMP error from it at once instead of timing out.
	gatewayCIDR = "10.244.0.1/24"
	// gatewayIP is gatewayCIDR's address, the pods' default route.
	gatewayIP = "10.244.0.1"
	// firstPodHost is the last octet of the first pod's address.
	firstPodHost = 10
)

// podSubnet is the pods' address range.
var podSubnet = &net.IPNet{IP: net.IPv4(10, 244, 0, 0).To4(), Mask: net.CIDRMask(24, 32)}

// PodNet is one pod's network namespace.
type PodNet struct {
	// Namespace is the Kubernetes namespace of the pod (one pod each).
	Namespace string
	// Netns is the network namespace the pod's processes run in.
	Netns string
	// IP is the pod's address.
	IP string
	// HostVeth is the host side of the pod's veth pair, on the bridge.
	HostVeth string
}

// createBridge creates the bridge with the gateway address. Deleting it is
// recorded first, so that a real-node run after a crashed run of this bed
// does not find a second route to the pod range.
func createBridge() error {
	if err := hostbed.RecordUndo("ip", "link", "delete", BridgeName); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "add", BridgeName, "type", "bridge"},
		{"addr", "add", gatewayCIDR, "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
	} {
		if _, err := hostbed.Run("ip", args...); err != nil {
			return fmt.Errorf("create bridge: %w", err)
		}
	}
	return nil
}

// podNetFor returns the network of the i-th pod, in namespace.
func podNetFor(i int, namespace string) PodNet {
	return PodNet{
		Namespace: namespace,
		Netns:     NetnsPrefix + namespace,
		IP:        "10.244.0." + strconv.Itoa(firstPodHost+i),
		HostVeth:  hostVethPrefix + strconv.Itoa(i),
	}
}

// addPodNet creates a pod's network namespace, with eth0 holding the pod's
// address and its peer on the bridge.
func addPodNet(pn PodNet) (PodNet, error) {
	if !podSubnet.Contains(net.ParseIP(pn.IP)) || pn.IP == gatewayIP {
		return pn, fmt.Errorf("pod in %s: address %s is not a pod address of %s", pn.Namespace, pn.IP, podSubnet)
	}
	namespace := pn.Namespace
	podSide := "tgp" + strings.TrimPrefix(pn.HostVeth, hostVethPrefix)
	if err := hostbed.RecordUndo("ip", "netns", "delete", pn.Netns); err != nil {
		return pn, err
	}
	steps := [][]string{
		{"netns", "add", pn.Netns},
		{"link", "add", pn.HostVeth, "type", "veth", "peer", "name", podSide},
		{"link", "set", podSide, "netns", pn.Netns},
		{"-n", pn.Netns, "link", "set", podSide, "name", "eth0"},
		{"-n", pn.Netns, "addr", "add", pn.IP + "/24", "dev", "eth0"},
		{"-n", pn.Netns, "link", "set", "eth0", "up"},
		{"-n", pn.Netns, "link", "set", "lo", "up"},
		{"-n", pn.Netns, "route", "add", "default", "via", gatewayIP},
		{"link", "set", pn.HostVeth, "master", BridgeName},
		{"link", "set", pn.HostVeth, "up"},
	}
	for _, args := range steps {
		if _, err := hostbed.Run("ip", args...); err != nil {
			return pn, fmt.Errorf("network of pod in %s: %w", namespace, err)
		}
	}
	return pn, nil
}

// removeNetwork removes every network namespace of the bed (after killing
// the processes inside, which only the bed puts there), any host veth left
// behind, and the bridge. It is idempotent and also cleans a crashed run.
func removeNetwork() error {
	var errs []error
	out, err := hostbed.Run("ip", "netns", "list")
	if err != nil {
		return fmt.Errorf("list network namespaces: %w", err)
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], NetnsPrefix) {
			continue
		}
		netns := fields[0]
		if pids, err := hostbed.Run("ip", "netns", "pids", netns); err == nil {
			for _, p := range strings.Fields(pids) {
				if pid, err := strconv.Atoi(p); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if _, err := hostbed.Run("ip", "netns", "delete", netns); err != nil {
			errs = append(errs, err)
		}
	}
	links, err := net.Interfaces()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list links: %w", err))...)
	}
	for _, l := range links {
		if l.Name == BridgeName || strings.HasPrefix(l.Name, hostVethPrefix) {
			if _, err := hostbed.Run("ip", "link", "delete", l.Name); err != nil && linkExists(l.Name) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// linkExists reports whether a host link exists (deleting one end of a veth
// pair removes the other, which then fails to delete).
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
