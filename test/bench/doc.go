// Command bench measures Tierguard against local control planes and writes
// test/bench/results/latest.{json,md}. `make bench` runs it; `make test`
// does not (it is a main package without tests of its own timing).
//
// For each scale N (default 1,000 and 5,000 governed namespaces spread over
// three tiers, plus unrelated namespaces), every scenario gets a fresh
// control plane (test/controlplane) with an audit policy that records, at
// Metadata level, every request of Tierguard's ServiceAccounts:
//
//   - raw: a tight client-go client (no rate limit, 16 writes in flight, the
//     manager's --apply-concurrency) performs the writes Tierguard needs, one
//     labels server-side apply and one policy create per namespace; T_raw is
//     the physical limit of the plane. Repeated on fresh planes.
//   - manager: the manager binary runs as a separate process under its
//     ServiceAccount (config/rbac), with leader election and its production
//     flags. The bench measures the cold start, counts the manager's writes at
//     the API server while idle, over forced passes, across restarts and over
//     an informer resync, times drift repairs and new namespaces through
//     watches, and reads the manager's memory (VmHWM, heap in use after a
//     forced GC) with and without unrelated objects, and its CPU and
//     allocation profiles during the cold start.
//   - enforcement (-cnp-at, default 1,000; -cnp-runs): cold starts of each
//     spec.enforcement (NetworkPolicy, ClusterNetworkPolicy, Both), each on
//     a fresh plane with the ClusterNetworkPolicy CRD installed: time to
//     Ready=True, NetworkPolicies and ClusterNetworkPolicies present, the
//     manager's writes and memory, and their ratios to NetworkPolicy mode.
//
// Nothing is asserted: targets are printed next to the figures. See the
// flags (go run ./test/bench -h) for smaller, faster runs.
package main
