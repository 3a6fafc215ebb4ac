// Package hostbed holds what the two host test beds share: the dataplane
// suite's network namespaces (test/dataplane) and the real node
// (test/cluster). Both change the same machine state (iptables chains named
// KUBE-*, ipsets, kernel settings, the pod range 10.244.0.0/24), so they
// take one run lock, record their children in one PID registry and their
// kernel settings in one journal, and each run first removes whatever a
// crashed run of either left. Everything here needs root and Linux.
package hostbed
