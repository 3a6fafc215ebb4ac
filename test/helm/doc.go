// Package helm holds the tests of Tierguard's Helm chart (dist/chart), in a
// module of their own so the Helm SDK (helm.sh/helm/v4) stays out of the
// operator's module graph:
//
//   - the chart passes helm lint, with the default values and with every
//     optional part switched;
//   - with the default values it renders exactly the objects of `kustomize
//     build config/default`, in the release namespace, and each value
//     changes what it should;
//   - installed on a local control plane (envtest: etcd and kube-apiserver),
//     the objects in the cluster are config/default's, and an upgrade that
//     changes values converges.
//
// Run it with `make test-helm` (it needs the envtest assets of `make
// envtest-assets`; go test -short skips the install).
package helm
