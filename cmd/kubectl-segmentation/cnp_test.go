package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// foreignClusterPolicies accepts dev into prod on TCP/22 before Tierguard's
// band and on every port after it.
const foreignClusterPolicies = "testdata/cluster-network-policies.yaml"

// sampleEnforcedBy is the sample profile with spec.enforcement set.
func sampleEnforcedBy(t *testing.T, enforcement string) string {
	t.Helper()
	data, err := os.ReadFile(sampleProfile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(data), "\nspec:\n", "\nspec:\n  enforcement: "+enforcement+"\n", 1)
}

func TestRenderByEnforcement(t *testing.T) {
	for _, tc := range []struct {
		enforcement string
		want        []string
	}{
		{"NetworkPolicy", []string{"Namespace", "NetworkPolicy", "Namespace", "NetworkPolicy", "Namespace", "NetworkPolicy"}},
		{"ClusterNetworkPolicy", []string{"Namespace", "Namespace", "Namespace",
			"ClusterNetworkPolicy", "ClusterNetworkPolicy", "ClusterNetworkPolicy", "ClusterNetworkPolicy"}},
		{"Both", []string{"Namespace", "NetworkPolicy", "Namespace", "NetworkPolicy", "Namespace", "NetworkPolicy",
			"ClusterNetworkPolicy", "ClusterNetworkPolicy", "ClusterNetworkPolicy", "ClusterNetworkPolicy"}},
	} {
		t.Run(tc.enforcement, func(t *testing.T) {
			r := runPlugin(t, sampleEnforcedBy(t, tc.enforcement), "render", "--profile", "-", "--namespaces", namespacesStream).mustSucceed(t)
			s := parseStream(t, r.stdout)
			if diff := cmp.Diff(tc.want, s.kinds); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			var names []string
			for _, c := range s.clusterPolicies {
				names = append(names, c.Name)
			}
			if want := []string{"tierguard.company.dev", "tierguard.company.prod", "tierguard.company.prod.web-prod", "tierguard.company.test"}; len(names) > 0 && !slices.Equal(names, want) {
				t.Errorf("ClusterNetworkPolicies %v, want %v", names, want)
			}
		})
	}
}

// TestMatrixByEnforcement: a namespace owner's allow-all opens prod under
// NetworkPolicy enforcement only; an Admin policy before Tierguard's band
// opens it in every mode, one after it only where Tierguard writes no
// ClusterNetworkPolicy.
func TestMatrixByEnforcement(t *testing.T) {
	for _, tc := range []struct {
		enforcement string
		// responsible are the policies blamed for app-dev -> billing-prod.
		allowAll, clusterPolicies []string
	}{
		{"NetworkPolicy", []string{"billing-prod/allow-all"}, []string{"ClusterNetworkPolicy/early-dev-to-prod", "ClusterNetworkPolicy/late-dev-to-prod"}},
		{"ClusterNetworkPolicy", nil, []string{"ClusterNetworkPolicy/early-dev-to-prod"}},
		{"Both", nil, []string{"ClusterNetworkPolicy/early-dev-to-prod"}},
	} {
		t.Run(tc.enforcement, func(t *testing.T) {
			profile := sampleEnforcedBy(t, tc.enforcement)
			responsible := func(args ...string) []string {
				t.Helper()
				r := runPlugin(t, profile, append([]string{"matrix", "-o", "json", "--profile-file", "-", "--namespaces", namespacesList}, args...)...).mustSucceed(t)
				pairs := decodePairs(t, r.stdout)
				return pairs[[2]string{"app-dev", "billing-prod"}].Responsible
			}
			if diff := cmp.Diff(tc.allowAll, responsible("--policies", allowAllPolicies)); diff != "" {
				t.Errorf("with an allow-all in billing-prod (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.clusterPolicies, responsible("--cluster-network-policies", foreignClusterPolicies)); diff != "" {
				t.Errorf("with foreign ClusterNetworkPolicies (-want +got):\n%s", diff)
			}
		})
	}
}
