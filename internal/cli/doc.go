// Package cli holds what the kubectl-segmentation plugin needs besides its
// commands: reading profiles, namespaces, NetworkPolicies and
// ClusterNetworkPolicies from files or from a cluster, validating a profile
// offline exactly as admission would, printing a plan, comparing the
// connectivity the policies allow with a profile's intent (the matrix), and
// printing a profile's status. It may depend on
// k8s.io/apiextensions-apiserver and client-go; the render package, which
// the controller shares, must not, so those dependencies stay here.
package cli
