// Package dataplane is a test bed that proves Tierguard's isolation with real
// packets on one Linux machine, without a kubelet or a container runtime:
//
//   - a local control plane (test/controlplane) with a Node object for this
//     machine and API-only Pods, bound to the node and patched to Running;
//   - one network namespace per Pod, wired to a bridge with bridge netfilter
//     on, so bridged frames traverse iptables;
//   - kube-router's NetworkPolicy firewall, built from its own module in
//     kuberouter/, programming iptables and ipsets for those Pods;
//   - the manager as a separate process under its ServiceAccount, with the
//     RBAC of config/rbac installed as a user installs it (test/harness);
//   - a probe program (probe/) serving TCP and UDP in every Pod's namespace
//     and connecting from them.
//
// Everything here needs root and Linux. Bed.Down, and the leftover cleanup
// at the start of Up, remove the namespaces, the bridge, kube-router's
// chains and ipsets, and stop only the processes the bed started, by PID.
// kube-router is a test instrument only: see README.md.
package dataplane
