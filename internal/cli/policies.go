package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// ReadPolicies reads NetworkPolicies as `kubectl get networkpolicies -A -o
// yaml` (or -o json) prints them, a List, or as a stream of NetworkPolicy
// documents. The result is sorted by namespace and name; a policy given
// twice is an error, as in ReadNamespaces.
func ReadPolicies(r io.Reader) ([]networkingv1.NetworkPolicy, error) {
	docs, err := documents(r)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []networkingv1.NetworkPolicy
	add := func(raw []byte, where string) error {
		np, err := decodePolicy(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		key := np.Namespace + "/" + np.Name
		if seen[key] {
			return fmt.Errorf("%s: NetworkPolicy %s is listed twice", where, key)
		}
		seen[key] = true
		out = append(out, np)
		return nil
	}
	if err := eachObject(docs, "NetworkPolicyList", add); err != nil {
		return nil, err
	}
	sortPolicies(out)
	return out, nil
}

// decodePolicy accepts only networking.k8s.io/v1 NetworkPolicies with a
// namespace: a policy applies to its own namespace, so one without it
// cannot be placed.
func decodePolicy(raw []byte) (networkingv1.NetworkPolicy, error) {
	var np networkingv1.NetworkPolicy
	if err := json.Unmarshal(raw, &np); err != nil {
		return np, err
	}
	if np.Kind != "NetworkPolicy" || np.APIVersion != networkingv1.SchemeGroupVersion.String() {
		return np, fmt.Errorf("expected a networking.k8s.io/v1 NetworkPolicy, got %s %s", np.APIVersion, np.Kind)
	}
	if np.Name == "" {
		return np, errors.New("a NetworkPolicy without metadata.name")
	}
	if np.Namespace == "" {
		return np, fmt.Errorf("NetworkPolicy %s has no metadata.namespace (use kubectl get networkpolicies -A -o yaml)", np.Name)
	}
	return np, nil
}

func sortPolicies(ps []networkingv1.NetworkPolicy) {
	slices.SortFunc(ps, func(a, b networkingv1.NetworkPolicy) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
}
