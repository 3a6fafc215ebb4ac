package dataplane

import (
	"github.com/tierguard/tierguard/test/hostbed"
)

// HostSupport returns nil when this machine can run the bed (Linux, root),
// else why not.
func HostSupport() error { return hostbed.Support() }

// nodeAddress returns this machine's primary IPv4 address (the source of its
// default route), which becomes the Node's InternalIP and every Pod's hostIP:
// the engine enforces only for pods whose hostIP is its node's address.
func nodeAddress() (string, error) {
	addr, _, err := hostbed.NodeAddress(podSubnet)
	return addr, err
}
