// Package cnpapi finds which version of the ClusterNetworkPolicy API
// (policy.networking.k8s.io, SIG Network's network-policy-api) the API
// server serves, so that Tierguard writes the newest it understands and
// reports a clear condition when none is served.
package cnpapi

import (
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// Group is the API group of ClusterNetworkPolicy.
const Group = "policy.networking.k8s.io"

// Versions Tierguard can write, preferred first: v1beta1 (network-policy-api
// v0.3.0) and v1alpha2 (v0.2.0; the same schema).
var Versions = []string{"v1beta1", "v1alpha2"}

// ErrNotServed is returned when the API server serves no version of
// ClusterNetworkPolicy that Tierguard can write: the CRD is not installed,
// or only an older API (AdminNetworkPolicy, v1alpha1) is.
var ErrNotServed = errors.New("the API server serves no ClusterNetworkPolicy version Tierguard can write (policy.networking.k8s.io v1beta1 or v1alpha2); install the CRD of network-policy-api v0.3.0 and a CNI that implements it")

// Detect returns the group version of ClusterNetworkPolicy to write: the
// first of Versions whose resource list holds clusternetworkpolicies.
func Detect(d discovery.DiscoveryInterface) (schema.GroupVersion, error) {
	groups, err := d.ServerGroups()
	if err != nil {
		return schema.GroupVersion{}, fmt.Errorf("discover API groups: %w", err)
	}
	var served []string
	for _, g := range groups.Groups {
		if g.Name != Group {
			continue
		}
		for _, v := range g.Versions {
			served = append(served, v.Version)
		}
	}
	for _, v := range Versions {
		if !slices.Contains(served, v) {
			continue
		}
		gv := schema.GroupVersion{Group: Group, Version: v}
		resources, err := d.ServerResourcesForGroupVersion(gv.String())
		if apierrors.IsNotFound(err) {
			continue // removed between the two calls
		}
		if err != nil {
			return schema.GroupVersion{}, fmt.Errorf("discover %s: %w", gv, err)
		}
		for _, r := range resources.APIResources {
			if r.Name == "clusternetworkpolicies" && !r.Namespaced {
				return gv, nil
			}
		}
	}
	return schema.GroupVersion{}, ErrNotServed
}
