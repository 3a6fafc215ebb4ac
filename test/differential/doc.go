// Package differential checks Tierguard's pod-level policy evaluator
// (internal/evaluate) against SIG Network's reference engine
// (sigs.k8s.io/kube-network-policies, the packet-verdict engine its
// nftables dataplane calls), in process, on random clusters.
//
// It is a separate module so that the reference engine and its
// dependencies never enter the product's go.mod. Everything lives in the
// tests; see README.md for what is compared and what is excluded.
package differential
