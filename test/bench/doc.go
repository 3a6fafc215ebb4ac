// Command bench measures Tierguard against local control planes and writes
// test/bench/results/latest.{json,md} and the plot scaling.svg (T_cold and
// the best T_raw, peak RSS and heap in use, against N). `make bench` runs
// it; `make test` does not (it is a main package without tests of its own
// timing). -plot-only draws the plot again from latest.json.
//
// For each scale N (default 1,000, 5,000 and 20,000 governed namespaces
// spread over three tiers, plus unrelated namespaces), every scenario gets a
// fresh control plane (test/controlplane) with an audit policy that
// records, at Metadata level, every request of Tierguard's ServiceAccounts:
//
//   - raw: a tight client-go client (no rate limit) performs the writes
//     Tierguard needs, one labels server-side apply and one policy write per
//     namespace, at each of -raw-concurrency writes in flight (default 16,
//     32 and 64), the policy created, then server-side applied with the
//     manager's body. The fastest concurrency of each kind is its T_raw, the
//     physical limit of the plane; the target's ratio is T_cold over the best
//     T_raw applied (the same writes as Tierguard makes them).
//   - manager: the manager binary runs as a separate process under its
//     ServiceAccount (config/rbac), with leader election and its production
//     flags. The bench measures the cold start, counts the manager's writes at
//     the API server while idle, over forced passes, across restarts and over
//     an informer resync, times drift repairs and new namespaces through
//     watches, and reads the manager's memory (VmHWM, heap in use after a
//     forced GC, both also per governed namespace) with and without
//     unrelated objects, and its CPU and allocation profiles during the cold
//     start.
//   - enforcement (-cnp-at, default 1,000; -cnp-runs): cold starts of each
//     spec.enforcement (NetworkPolicy, ClusterNetworkPolicy, Both), each on
//     a fresh plane with the ClusterNetworkPolicy CRD installed: time to
//     Ready=True, NetworkPolicies and ClusterNetworkPolicies present, the
//     manager's writes and memory, and their ratios to NetworkPolicy mode.
//
// Nothing is asserted: targets are printed next to the figures. The bench
// prints its estimated run time at the start (estimate.go) and the actual
// one at the end. The defaults take about 30 minutes on 2 cores; see the
// flags (go run ./test/bench -h) for smaller, faster runs, e.g.
//
//	go run ./test/bench -namespaces 1000 -full-at 1000 -cold-runs 1 -cnp-at 0 \
//	    -idle 10s -tamperings 20 -new-namespaces 20 -extra-objects 0
package main
