// Package cluster is the real-node test bed: a single-node Kubernetes cluster
// on this machine, as users run one, built only from Debian packages and the
// Go module proxy.
//
//   - the control plane of test/controlplane, with kube-apiserver on this
//     machine's own address and port 6443 (the kubernetes Service's
//     endpoint), and the controllers a Deployment needs;
//   - kube-scheduler, kubelet, kube-proxy (iptables mode) and the CNI plugins
//     bridge, host-local and loopback, built by `make envtest-assets`'s
//     script with the argument node, and cached beside the control plane;
//   - containerd and runc from Debian, started with the bed's own
//     configuration, state and socket (never the machine's service);
//   - kube-router's NetworkPolicy firewall (a test instrument only, see
//     test/dataplane/README.md), or no policy engine at all (Options.NoPolicyEngine);
//   - images built without a Docker daemon (hack/image) from static binaries
//     and imported into containerd: the pause image, the probe, the manager.
//
// Every setting that differs from a default, and why, is in settings.go.
// Traffic stays on this machine: a guard drops anything from or to the pod
// range and anything to the service range that would leave by the uplink,
// and anything arriving by the uplink for the API server or kubelet ports.
//
// Up takes the run lock the dataplane suite takes (test/hostbed), removes
// whatever a crashed run of either bed left, and records what it changes in
// the shared journals; Down stops every process by PID, kills what the
// containers left, unmounts, and removes the bridge, the network namespaces,
// the KUBE-* chains and ipsets, the guard and the work dir, and restores
// every kernel setting. Needs root and Linux.
package cluster
