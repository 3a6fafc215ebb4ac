// Package cli holds what the kubectl-segmentation plugin needs besides its
// commands: reading profiles and namespaces from files or from a cluster,
// validating a profile offline exactly as admission would, and printing a
// plan. It may depend on k8s.io/apiextensions-apiserver and client-go; the
// render package, which the controller shares, must not, so those
// dependencies stay here.
package cli
