package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/tierguard/tierguard/internal/cnpapi"
)

// LoadClusterPolicies reads every ClusterNetworkPolicy, sorted by name, in
// the newest version the API server serves (policy.networking.k8s.io
// v1beta1, else v1alpha2, whose schema is the same). served is false, with
// no error, when the cluster serves neither: without the CRD there are no
// ClusterNetworkPolicies to account for.
func LoadClusterPolicies(ctx context.Context, config *rest.Config) (policies []npav1beta1.ClusterNetworkPolicy, served bool, err error) {
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, false, fmt.Errorf("creating a discovery client: %w", err)
	}
	gv, err := cnpapi.Detect(disco)
	if errors.Is(err, cnpapi.ErrNotServed) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, false, fmt.Errorf("creating a dynamic client: %w", err)
	}
	resource := dyn.Resource(gv.WithResource("clusternetworkpolicies"))
	var out []npav1beta1.ClusterNetworkPolicy
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := resource.List(ctx, opts)
		if err != nil {
			return nil, true, fmt.Errorf("listing ClusterNetworkPolicies (%s): %w", gv, err)
		}
		for i := range list.Items {
			data, err := list.Items[i].MarshalJSON()
			if err != nil {
				return nil, true, fmt.Errorf("encoding ClusterNetworkPolicy %s: %w", list.Items[i].GetName(), err)
			}
			c, err := decodeClusterPolicy(data)
			if err != nil {
				return nil, true, fmt.Errorf("decoding ClusterNetworkPolicy %s: %w", list.Items[i].GetName(), err)
			}
			out = append(out, c)
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	sortClusterPolicies(out)
	return out, true, nil
}

// ReadClusterPolicies reads ClusterNetworkPolicies as `kubectl get
// clusternetworkpolicies -o yaml` (or -o json) prints them, a List, or as a
// stream of documents, of policy.networking.k8s.io v1beta1 or v1alpha2. The
// result is sorted by name; a policy given twice is an error.
func ReadClusterPolicies(r io.Reader) ([]npav1beta1.ClusterNetworkPolicy, error) {
	docs, err := documents(r)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []npav1beta1.ClusterNetworkPolicy
	add := func(raw []byte, where string) error {
		c, err := decodeClusterPolicy(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("%s: ClusterNetworkPolicy %s is listed twice", where, c.Name)
		}
		seen[c.Name] = true
		out = append(out, c)
		return nil
	}
	if err := eachObject(docs, "ClusterNetworkPolicyList", add); err != nil {
		return nil, err
	}
	sortClusterPolicies(out)
	return out, nil
}

// decodeClusterPolicy decodes a ClusterNetworkPolicy of a version
// Tierguard knows into v1beta1: v1alpha2 has the same schema, so the JSON
// carries over as it is.
func decodeClusterPolicy(raw []byte) (npav1beta1.ClusterNetworkPolicy, error) {
	var c npav1beta1.ClusterNetworkPolicy
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, err
	}
	versions := make([]string, len(cnpapi.Versions))
	for i, v := range cnpapi.Versions {
		versions[i] = cnpapi.Group + "/" + v
	}
	if c.Kind != "ClusterNetworkPolicy" || !slices.Contains(versions, c.APIVersion) {
		return c, fmt.Errorf("expected a ClusterNetworkPolicy of %s, got %s %s", strings.Join(versions, " or "), c.APIVersion, c.Kind)
	}
	if c.Name == "" {
		return c, errors.New("a ClusterNetworkPolicy without metadata.name")
	}
	c.APIVersion = npav1beta1.GroupVersion.String()
	return c, nil
}

func sortClusterPolicies(ps []npav1beta1.ClusterNetworkPolicy) {
	slices.SortFunc(ps, func(a, b npav1beta1.ClusterNetworkPolicy) int { return strings.Compare(a.Name, b.Name) })
}
