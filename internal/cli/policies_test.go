package cli

import (
	"strings"
	"testing"
)

func TestReadPoliciesFormats(t *testing.T) {
	cases := map[string]string{
		"kubectl get -o yaml": `apiVersion: v1
kind: List
items:
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b, namespace: ns-x}, spec: {podSelector: {}}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a, namespace: ns-y}, spec: {podSelector: {}}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a, namespace: ns-x}, spec: {podSelector: {}}}
`,
		"stream": `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: ns-y}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: ns-x}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: ns-x}
spec: {podSelector: {}}
`,
		"kubectl get -o json": `{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": [
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "a", "namespace": "ns-x"}, "spec": {"podSelector": {}}},
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "a", "namespace": "ns-y"}, "spec": {"podSelector": {}}},
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "b", "namespace": "ns-x"}, "spec": {"podSelector": {}}}]}`,
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ReadPolicies(strings.NewReader(input))
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range got {
				keys = append(keys, p.Namespace+"/"+p.Name)
			}
			if strings.Join(keys, " ") != "ns-x/a ns-x/b ns-y/a" {
				t.Errorf("policies %v, want ns-x/a ns-x/b ns-y/a", keys)
			}
		})
	}
}

func TestReadPoliciesRefuses(t *testing.T) {
	cases := map[string]struct{ input, want string }{
		"another kind":  {"apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", "expected a networking.k8s.io/v1 NetworkPolicy, got v1 Namespace"},
		"no namespace":  {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n", "has no metadata.namespace"},
		"no name":       {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: ns-x}\n", "without metadata.name"},
		"listed twice":  {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: ns-x}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: ns-x}\n", "ns-x/a is listed twice"},
		"duplicate key": {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nkind: NetworkPolicy\nmetadata: {name: a, namespace: ns-x}\n", "already set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadPolicies(strings.NewReader(tc.input)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
