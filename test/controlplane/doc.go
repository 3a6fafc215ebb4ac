// Package controlplane starts a local Kubernetes control plane for tests,
// benchmarks and demos: etcd, kube-apiserver and kube-controller-manager,
// all listening only on 127.0.0.1 on ports chosen at run time, as processes
// of package harness.
//
// The binaries come from the envtest assets directory that
// `make envtest-assets` fills (hack/envtest/build.sh). Unlike
// controller-runtime's envtest, the plane runs kube-controller-manager (so
// garbage collection, namespace deletion and service account tokens work),
// authorizes with RBAC, can write an audit log, and offers fault injection
// (restarting etcd or the API server) plus helpers that act as an arbitrary
// user or service account.
//
// A minimal use:
//
//	cp, err := controlplane.Start(ctx, controlplane.Options{})
//	if err != nil { ... }
//	defer cp.Stop()
//	cfg := cp.RESTConfig()
package controlplane
